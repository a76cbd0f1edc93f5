"""Floor of ``cml plot confusion FILE``: parse both label columns as text with the fastest reader, dictionary-encode
them into sorted classes, count pairs with one ``bincount``, pool the matrix to the image's resolution (each pixel
keeps the largest count under it) and draw it as cml's figure shows it: correct predictions in blues and confusions
in oranges (square root), each with its colour bar, and thinned class-name ticks.

    python benchmarks/floors/confusion.py confusion.csv -o floor.png --size 1056x1032
"""

from __future__ import annotations

from floor import Stopwatch, arguments, encode_labels, figure_of, read_columns, save

#: At most this many tick labels per axis, as cml draws.
MOST_TICKS = 30


def pooled(counts, pixels: int):
    """``counts`` reduced to at most ``pixels`` × ``pixels`` cells, each the largest count of its block."""
    import numpy as np

    if len(counts) <= pixels:
        return counts
    starts = (np.arange(pixels) * len(counts)) // pixels
    return np.maximum.reduceat(np.maximum.reduceat(counts, starts, axis=0), starts, axis=1)


def split_pooled(counts, pixels: int):
    """The correct predictions (the diagonal) and the confusions of ``counts``, each pooled as :func:`pooled` does;
    ``counts``' diagonal is zeroed."""
    import numpy as np

    size = len(counts)
    diagonal = np.diag(counts).copy()
    np.fill_diagonal(counts, 0)
    confused = pooled(counts, pixels)
    blocks = len(confused)
    if blocks < size:
        diagonal = np.maximum.reduceat(diagonal, (np.arange(blocks) * size) // blocks)
    correct = np.zeros((blocks, blocks), dtype=counts.dtype)
    np.fill_diagonal(correct, diagonal)
    return correct, confused


def main() -> None:
    import numpy as np

    options = arguments(__doc__.splitlines()[0], "y-true=actual", "y-pred=predicted")
    watch = Stopwatch()
    actual, predicted = read_columns(options.file, [options.y_true, options.y_pred], text=True, reader=options.reader)
    watch.lap("read")
    classes, actual_codes, predicted_codes = encode_labels(actual, predicted)
    size = len(classes)
    counts = np.bincount(actual_codes * size + predicted_codes, minlength=size * size).reshape(size, size)
    watch.lap("count")
    figure = figure_of(options.size)
    axes = figure.add_subplot()
    pixels = int(min(figure.get_figwidth(), figure.get_figheight()) * figure.dpi * 0.8)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    correct, confused = split_pooled(counts, pixels)
    extent = (-0.5, size - 0.5, size - 0.5, -0.5)
    blues = axes.imshow(np.ma.masked_equal(correct, 0), cmap="Blues", interpolation="nearest", aspect="equal",
                        extent=extent)
    oranges = axes.imshow(np.ma.masked_equal(np.sqrt(confused), 0), cmap="Oranges", interpolation="nearest",
                          aspect="equal", extent=extent)
    figure.colorbar(blues, ax=axes, label="correct (count)", shrink=0.8)
    figure.colorbar(oranges, ax=axes, label="confused (count)", shrink=0.8)
    ticks = list(range(0, size, -(-size // MOST_TICKS)))
    axes.set_xticks(ticks, [classes[index] for index in ticks], rotation=90)
    axes.set_yticks(ticks, [classes[index] for index in ticks])
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title(f"Confusion matrix (accuracy {accuracy:.1%})")
    save(figure, options.output)
    watch.lap("draw")
    watch.report(options.timings)


if __name__ == "__main__":
    main()
