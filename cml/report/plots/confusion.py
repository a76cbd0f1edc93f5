"""Confusion matrices that stay readable, fast and small in memory up to thousands of classes.

Pairs are counted sparsely (memory grows with the samples, not with the square of the classes); past
``max_classes``, the most frequent classes are drawn and the rest summed in one "other" row and column.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args
from collections.abc import Sequence

from cml.errors import UsageError
from cml.report.classification import folding_note, most_frequent, other_label, prepare_labels
from cml.report.plots.common import MAX_TICK_TEXT, Plot, check_output, literal, new_figure, save_figure, thin_ticks

#: Fractions of each actual class (``true``), of each predicted class (``pred``) or of all samples (``all``).
Normalization = Literal["true", "pred", "all"]
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
ANNOTATE_UP_TO = 30
#: Classes a confusion matrix draws one by one; the others share one "other" row and column.
MAX_PLOTTED_CLASSES = 1000


class ConfusionCounts(NamedTuple):
    """Counts with rows actual and columns predicted, over ``labels`` (the last one "other" when ``folded``)."""

    labels: list[str]
    counts: Any
    classes: int
    folded: int
    correct: int


def count_matrix(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None, max_classes: int = MAX_PLOTTED_CLASSES
) -> ConfusionCounts:
    """Count (actual, predicted) pairs; past ``max_classes`` classes, keep the most frequent and fold the rest."""
    import numpy as np

    if max_classes < 1:
        raise UsageError("must be 1 or more", parameter="max_classes")
    y_true, y_pred, labels = prepare_labels(y_true, y_pred, labels)
    index = {label: position for position, label in enumerate(labels)}
    size = len(labels)
    try:
        actual = np.fromiter((index[label] for label in y_true), dtype=np.int64, count=len(y_true))
        predicted = np.fromiter((index[label] for label in y_pred), dtype=np.int64, count=len(y_pred))
    except KeyError as error:
        raise UsageError(f"label {error.args[0]!r} is not among the given labels") from None
    pairs, counts = np.unique(actual * size + predicted, return_counts=True)
    rows, columns = np.divmod(pairs, size)
    correct = int(counts[rows == columns].sum())
    classes = size
    folded = max(classes - max_classes, 0)
    if folded:
        frequency = np.bincount(rows, counts, size) + np.bincount(columns, counts, size)
        kept = most_frequent(frequency.tolist(), max_classes)
        position = np.full(size, max_classes, dtype=np.int64)
        position[kept] = np.arange(max_classes)
        rows, columns = position[rows], position[columns]
        labels = [labels[i] for i in kept] + [other_label(folded)]
        size = max_classes + 1
    matrix = np.bincount(rows * size + columns, weights=counts, minlength=size * size)
    return ConfusionCounts(labels, matrix.astype(np.int64).reshape(size, size), classes, folded, correct)


def normalize_matrix(counts: Any, normalize: Normalization | None) -> Any:
    """Divide by row sums (``true``), column sums (``pred``) or the total (``all``)."""
    import numpy as np

    if normalize is None:
        return counts
    if normalize not in NORMALIZATIONS:
        raise UsageError(f"'{normalize}' is not one of {', '.join(NORMALIZATIONS)}", parameter="normalize")
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
    normalize: Normalization | None = None,
    title: str = "Confusion matrix",
    max_classes: int = MAX_PLOTTED_CLASSES,
) -> Plot:
    """Draw the confusion matrix of ``y_true`` against ``y_pred`` into ``output``.

    Up to 30 classes every cell shows its value; past that, cells are colour only
    (square-root colour scale, so rare confusions stay visible) and tick labels
    are thinned to about 30 per axis. Past ``max_classes``, the most frequent classes
    are drawn and the rest summed as "other", which the title says (and ``details["folded"]`` counts).
    """
    from matplotlib.colors import Normalize, PowerNorm

    check_output(output)
    matrix = count_matrix(y_true, y_pred, labels, max_classes)
    labels, counts = matrix.labels, matrix.counts
    values = normalize_matrix(counts, normalize)
    size = len(labels)
    side = min(max(4.5 + 0.4 * size, 5.5), 12.0) if size <= ANNOTATE_UP_TO else 12.0
    figure = new_figure(side + 1.2, side)
    axes = figure.add_subplot()
    # The colours span the classes drawn one by one; a larger "other" cell takes the darkest colour.
    top = float((values[:-1, :-1] if matrix.folded else values).max()) or float(values.max()) or 1.0
    norm = PowerNorm(gamma=0.5, vmin=0, vmax=top) if size > ANNOTATE_UP_TO else Normalize(vmin=0, vmax=top)
    image = axes.imshow(values, cmap="Blues", norm=norm, interpolation="nearest", aspect="equal")
    colorbar = figure.colorbar(image, ax=axes, shrink=0.8, label="fraction" if normalize else "count",
                               extend="max" if float(values.max()) > top else "neither")
    if not normalize:
        from matplotlib.ticker import MaxNLocator

        colorbar.locator = MaxNLocator(integer=True)
        colorbar.update_ticks()
    ticks = thin_ticks(size)
    if matrix.folded and ticks[-1] != size - 1:
        ticks.append(size - 1)
    rotate = size > 20 or max(len(label) for label in labels) > 3
    tick_labels = [literal(labels[i], MAX_TICK_TEXT) for i in ticks]
    axes.set_xticks(ticks, tick_labels, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    axes.set_yticks(ticks, tick_labels)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    if matrix.folded:
        note = folding_note(max_classes, matrix.classes, "The matrix")
        axes.set_title(f"{literal(title)}\n{note}", fontsize="medium")
    else:
        axes.set_title(literal(title))
    if size <= ANNOTATE_UP_TO:
        threshold = top / 2
        font = max(6, min(12, 220 // max(size, 1)))
        for row in range(size):
            for column in range(size):
                value = values[row, column]
                text = f"{value:.2f}" if normalize else str(int(value))
                axes.text(column, row, text, ha="center", va="center", fontsize=font,
                          color="white" if value > threshold else "black")
    samples = int(counts.sum())
    return save_figure(figure, output, title, classes=matrix.classes, folded=matrix.folded, samples=samples,
                       accuracy=matrix.correct / samples)
