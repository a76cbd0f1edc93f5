"""Floor of ``cml plot pr FILE`` on binary labels and one score column: parse with the fastest reader, one stable
sort and cumulative sums (precision and recall at every distinct score, average precision as a step sum), the curve
thinned to the points cml draws.

    python benchmarks/floors/pr.py scores.csv -o floor.png --size 768x672
"""

from __future__ import annotations

from floor import Stopwatch, arguments, downsample, figure_of, finish, read_columns


def precision_recall(truth, scores):
    """Precision and recall at each distinct score, from the highest, ending at (recall 0, precision 1), and the
    average precision."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], truth[order] > 0
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(positive)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / max(true_positives[-1], 1)
    precision, recall = np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]
    return precision, recall, float(-np.sum(np.diff(recall) * precision[:-1]))


def main() -> None:
    options = arguments(__doc__.splitlines()[0], "y-true=actual", "y-score=score")
    watch = Stopwatch()
    truth, scores = read_columns(options.file, [options.y_true, options.y_score], reader=options.reader)
    watch.lap("read")
    precision, recall, average = precision_recall(truth, scores)
    watch.lap("curve")
    figure = figure_of(options.size)
    axes = figure.add_subplot()
    x, y = downsample(recall[::-1], precision[::-1])
    axes.plot(x, y, linewidth=1.6, drawstyle="steps-post", label=f"AP = {average:.3f}")
    finish(figure, axes, ("Recall", "Precision", "Precision-recall curve"), options.output, watch, options.timings,
           legend="lower left", unit_square=True)


if __name__ == "__main__":
    main()
