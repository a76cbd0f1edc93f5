"""Floor of ``cml plot roc FILE`` on binary labels and one score column: parse with the fastest reader, one stable
sort and cumulative sums (the ROC at every distinct score, its AUC by the trapezoid rule), the curve thinned to the
points cml draws.

    python benchmarks/floors/roc.py scores.csv -o floor.png --size 768x672
"""

from __future__ import annotations

from floor import Stopwatch, arguments, downsample, figure_of, finish, read_columns


def roc(truth, scores):
    """False and true positive rates at each distinct score, from (0, 0), and the area under them."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    scores, positive = scores[order], truth[order] > 0
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last index of each distinct score
    true_positives = np.cumsum(positive)[last]
    false_positives = last + 1 - true_positives
    tpr = np.r_[0.0, true_positives / max(true_positives[-1], 1)]
    fpr = np.r_[0.0, false_positives / max(false_positives[-1], 1)]
    return fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2)


def main() -> None:
    options = arguments(__doc__.splitlines()[0], "y-true=actual", "y-score=score")
    watch = Stopwatch()
    truth, scores = read_columns(options.file, [options.y_true, options.y_score], reader=options.reader)
    watch.lap("read")
    fpr, tpr, area = roc(truth, scores)
    watch.lap("curve")
    figure = figure_of(options.size)
    axes = figure.add_subplot()
    x, y = downsample(fpr, tpr)
    axes.plot(x, y, linewidth=1.6, label=f"AUC = {area:.3f}")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    finish(figure, axes, ("False positive rate", "True positive rate", "ROC curve"), options.output, watch,
           options.timings, legend="lower right", unit_square=True)


if __name__ == "__main__":
    main()
