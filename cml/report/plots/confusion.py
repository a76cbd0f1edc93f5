"""Confusion matrices that stay readable and fast up to thousands of classes."""

from __future__ import annotations

from typing import Sequence

from cml.errors import UsageError
from cml.report.classification import prepare_labels
from cml.report.plots.common import Plot, check_output, new_figure, save_figure, thin_ticks

NORMALIZATIONS = ("true", "pred", "all")
ANNOTATE_UP_TO = 30


def count_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None):
    """Counts as a (classes × classes) integer array, rows actual, columns predicted."""
    import numpy as np

    y_true, y_pred, labels = prepare_labels(y_true, y_pred, labels)
    index = {label: position for position, label in enumerate(labels)}
    size = len(labels)
    try:
        codes = np.fromiter((index[t] * size + index[p] for t, p in zip(y_true, y_pred)), dtype=np.int64, count=len(y_true))
    except KeyError as error:
        raise UsageError(f"label {error.args[0]!r} is not among the given labels") from None
    return labels, np.bincount(codes, minlength=size * size).reshape(size, size)


def normalize_matrix(counts, normalize: str | None):
    """Divide by row sums (``true``), column sums (``pred``) or the total (``all``)."""
    import numpy as np

    if normalize is None:
        return counts
    if normalize not in NORMALIZATIONS:
        raise UsageError(f"'{normalize}' is not one of {', '.join(NORMALIZATIONS)}", option="--normalize")
    counts = counts.astype(float)
    if normalize == "true":
        totals = counts.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        totals = counts.sum(axis=0, keepdims=True)
    else:
        totals = np.array(counts.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0)


def confusion_matrix(
    y_true: Sequence,
    y_pred: Sequence,
    output: str = "confusion_matrix.png",
    labels: Sequence[str] | None = None,
    normalize: str | None = None,
    title: str = "Confusion matrix",
) -> Plot:
    """Draw the confusion matrix of ``y_true`` against ``y_pred`` into ``output``.

    Up to 30 classes every cell shows its value; past that, cells are colour only
    (square-root colour scale, so rare confusions stay visible) and tick labels
    are thinned to about 30 per axis.
    """
    import numpy as np
    from matplotlib.colors import PowerNorm

    check_output(output)
    labels, counts = count_matrix(y_true, y_pred, labels)
    values = normalize_matrix(counts, normalize)
    size = len(labels)
    side = min(max(4.5 + 0.4 * size, 5.5), 12.0) if size <= ANNOTATE_UP_TO else 12.0
    figure = new_figure(side + 1.2, side)
    axes = figure.add_subplot()
    norm = PowerNorm(gamma=0.5, vmin=0, vmax=float(values.max()) or 1.0) if size > ANNOTATE_UP_TO else None
    image = axes.imshow(values, cmap="Blues", norm=norm, interpolation="nearest", aspect="equal")
    colorbar = figure.colorbar(image, ax=axes, shrink=0.8, label="fraction" if normalize else "count")
    if not normalize:
        from matplotlib.ticker import MaxNLocator

        colorbar.locator = MaxNLocator(integer=True)
        colorbar.update_ticks()
    ticks = thin_ticks(size)
    rotate = size > 20 or max(len(label) for label in labels) > 3
    axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=45 if rotate else 0, ha="right" if rotate else "center")
    axes.set_yticks(ticks, [labels[i] for i in ticks])
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title(title)
    if size <= ANNOTATE_UP_TO:
        threshold = values.max() / 2 if values.size else 0
        font = max(6, min(12, 220 // max(size, 1)))
        for row in range(size):
            for column in range(size):
                value = values[row, column]
                text = f"{value:.2f}" if normalize else str(int(value))
                axes.text(column, row, text, ha="center", va="center", fontsize=font,
                          color="white" if value > threshold else "black")
    accuracy = float(np.trace(counts)) / float(counts.sum())
    return save_figure(figure, output, title, classes=size, samples=int(counts.sum()), accuracy=accuracy)
