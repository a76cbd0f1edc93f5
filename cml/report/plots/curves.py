"""ROC and precision-recall curves from scores, or from points a tool already computed."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, Union
from collections.abc import Mapping, Sequence

from cml.errors import CmlError, InputError, UsageError
from cml.fileio import FilePath
from cml.git import Revision
from cml.report.classification import ACTUAL_COLUMNS, encode_labels, pick_column
from cml.report.data import Table, base_table, listed, load_table, natural_sort_key
from cml.report.plots.common import (
    Plot,
    check_output,
    downsample,
    legend_if_useful,
    literal,
    new_figure,
    save_figure,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

SCORE_COLUMNS = ("score", "y_score", "prob", "probability", "proba", "prediction_score")
SCORE_PREFIXES = ("score_", "prob_", "proba_", "probability_", "y_score_")
#: The curves drawn from a table: ROC or precision-recall.
CurveKind = Literal["roc", "pr"]
POINT_COLUMNS: dict[CurveKind, tuple[str, str]] = {"roc": ("fpr", "tpr"), "pr": ("precision", "recall")}
#: One array of scores (a binary problem), or ``{label: scores}`` (one-vs-rest).
Scores = Union["ArrayLike", Mapping[Any, "ArrayLike"]]

#: The binary label sets whose positive class goes without saying, as in scikit-learn.
_STANDARD_BINARY = ({"0", "1"}, {"-1", "1"}, {"false", "true"})


def _standard_value(label: str) -> str | None:
    """``label`` as ``0``/``1``/``-1`` (any way a number is written) or ``false``/``true`` (any case)."""
    if label.lower() in ("true", "false"):
        return label.lower()
    try:
        number = float(label)
    except ValueError:
        return None
    return {0.0: "0", 1.0: "1", -1.0: "-1"}.get(number)


def positive_label(labels: Sequence[str], pos_label: Any = None, parameter: str = "pos_label", source: str = "",
                   advice: str | None = None) -> str:
    """The positive class of one score column: ``pos_label``, which must be one of ``labels``, else ``1`` or
    ``true`` when the labels are 0/1, -1/1 or false/true; any other labels need ``pos_label``.

    ``parameter`` names ``pos_label`` in errors, ``source`` (a file) where the labels came from, and ``advice``
    (default ``parameter``) how a message tells to pass it.
    """
    advice = advice or parameter
    distinct = sorted(set(labels), key=natural_sort_key)
    if pos_label is not None:
        if str(pos_label) not in distinct:
            where = f" in {source}" if source else ""
            raise UsageError(f"'{pos_label}' is not a label of y_true{where}; its labels are "
                             f"{listed(distinct, quote=True) or 'none'}", parameter=parameter)
        return str(pos_label)
    if len(distinct) > 2:
        raise UsageError(f"{len(distinct)} classes need one score column per class (one-vs-rest); give scores "
                         f"for each class, or name the positive class with {advice}")
    values = [_standard_value(label) for label in distinct]
    standard = set(values)
    if None in standard or len(standard) < len(values) or not any(standard <= known for known in _STANDARD_BINARY):
        where = f"{source}: " if source else ""
        raise UsageError(f"{where}y_true takes values {listed(distinct, quote=True)}; pass {advice} with one of them")
    for label, value in zip(distinct, values):
        if value in ("1", "true"):
            return label
    # One negative class only: the positive class is absent, and the curve says so.
    return "true" if standard == {"false"} else "1"


def _codes_of_texts(texts: Sequence[Any]) -> tuple[list[str], Any] | None:
    """``(labels, codes)`` of a sequence of strings, by a dictionary, or ``None`` if ``texts`` holds anything else
    (whose text ``str`` gives, not equality: ``True == 1`` but ``"True" != "1"``)."""
    try:
        labels, (codes,) = encode_labels(texts)
    except TypeError:  # unhashable labels
        return None
    # Only text labels: any other value may equal another's text-less twin (True == 1) in the dictionary.
    return (labels, codes) if all(type(label) is str for label in labels) else None


def _codes_as_text(values: Sequence) -> tuple[list[str], Any]:
    """``(labels, codes)`` of any labels, each made text."""
    encoded = _codes_of_texts([str(value) for value in values])
    assert encoded is not None  # every item is a str
    return encoded


def _merge_equal_texts(texts: list[str], codes: Any) -> tuple[list[str], Any]:
    """Distinct values whose text is the same (every NaN is ``nan``) made one label."""
    import numpy as np

    labels = list(dict.fromkeys(texts))
    if len(labels) == len(texts):
        return labels, codes
    position = {label: index for index, label in enumerate(labels)}
    return labels, np.array([position[text] for text in texts], dtype=np.intp)[codes]


def label_codes(y_true: Sequence) -> tuple[list[str], Any]:
    """The distinct labels of ``y_true`` as text (``str`` of each) and, for each sample, the index of its label
    in that list: labels are compared as text, so ``1`` and ``"1"`` are one class, ``True`` and ``1`` two.

    Only the distinct values are made text: a list of strings is encoded by a dictionary, a numpy array (or a list
    of one type of number, whose text numpy keeps) by counting class numbers or by ``np.unique``; other sequences
    (mixed types, objects) label by label.
    """
    import numpy as np

    if isinstance(y_true, (list, tuple)):
        encoded = _codes_of_texts(y_true)
        if encoded is not None:
            return encoded
        kinds = set(map(type, y_true))
        # A list of mixed types would not do: numpy makes [True, 2] integers and [1, 2.5] floats.
        if len(kinds) != 1 or not kinds <= {bool, int, float}:
            return _codes_as_text(y_true)
    array = np.asarray(y_true)
    if array.ndim != 1 or array.dtype.kind not in "biufSU" or (array.dtype.kind == "f" and array.itemsize > 8):
        return _codes_as_text(y_true)
    dense = _dense_codes(array)
    if dense is not None:
        distinct, codes = dense
    elif array.dtype.kind == "f":
        # By bit pattern: np.unique makes -0.0 and 0.0 one value, but their texts differ.
        bits, codes = np.unique(array.view(f"u{array.itemsize}"), return_inverse=True)
        distinct = bits.view(array.dtype)
    else:
        distinct, codes = np.unique(array, return_inverse=True)
    return _merge_equal_texts([str(value) for value in distinct], codes.reshape(-1))


def _dense_codes(array: Any) -> tuple[Any, Any] | None:
    """``(distinct values, codes)`` of booleans or integers in a range no wider than the array (class numbers),
    counted rather than sorted; ``None`` for other arrays."""
    import numpy as np

    kind, size = array.dtype.kind, array.dtype.itemsize
    if not len(array) or not (kind == "b" or kind == "i" or (kind == "u" and size < 8)):
        return None
    numbers = array.astype(np.int64, copy=False)
    low, high = int(numbers.min()), int(numbers.max())
    if high - low > max(len(numbers), 1 << 16):
        return None
    offsets = numbers - low
    present = np.bincount(offsets, minlength=high - low + 1) > 0
    codes = (np.cumsum(present) - 1)[offsets]
    distinct = np.empty(int(np.count_nonzero(present)), dtype=array.dtype)
    distinct[codes] = array
    return distinct, codes


def _one_vs_rest(y_true: Sequence, scores: Scores, pos_label: Any = None) -> list[tuple[str, Any, Any]]:
    """(label, is-positive array, scores array) for each curve to draw."""
    import numpy as np

    labels, codes = label_codes(y_true)
    position = {label: index for index, label in enumerate(labels)}

    def is_label(label: str) -> Any:
        index = position.get(label)
        return codes == index if index is not None else np.zeros(len(codes), dtype=bool)

    if isinstance(scores, Mapping):
        if not scores:
            raise UsageError("no score columns given", parameter="scores")
        if pos_label is not None:
            if str(pos_label) not in map(str, scores):
                raise UsageError(f"'{pos_label}' is not one of the classes with scores: "
                                 f"{listed(scores, quote=True)}", parameter="pos_label")
            scores = {label: values for label, values in scores.items() if str(label) == str(pos_label)}
        curves = []
        for label, class_scores in scores.items():
            values = np.asarray(class_scores, dtype=float)
            if len(values) != len(codes):
                raise UsageError(f"{len(values)} scores for class '{label}' but {len(codes)} labels")
            curves.append((str(label), is_label(str(label)), values))
        return curves
    values = np.asarray(scores, dtype=float)
    if len(values) != len(codes):
        raise UsageError(f"{len(values)} scores but {len(codes)} labels")
    positive = positive_label(labels, pos_label)
    return [(positive, is_label(positive), values)]


@dataclass
class ClassCurve:
    """One class's curve, ``x`` increasing: ROC (FPR, TPR) or precision-recall (recall, precision), with its area
    (AUC or average precision) and the class's positive rate (``None`` for points a tool computed)."""

    label: str
    x: Any
    y: Any
    area: float
    positive_rate: float | None = None


def _check_scores(values, label: str) -> None:
    import numpy as np

    if not np.all(np.isfinite(values)):
        raise UsageError(f"scores for class '{label}' contain NaN or infinite values")


def threshold_counts(positive: ArrayLike, scores: ArrayLike) -> tuple[Any, Any]:
    """True and false positives when every sample scoring at least the threshold is predicted positive, for each
    distinct score from the highest down (scikit-learn's ``confusion_matrix_at_thresholds``, without weights).

    A sort and a cumulative sum read at the last sample of each run of equal scores: the counts there do not depend
    on the order of tied samples, so the sort need not be stable.
    """
    import numpy as np

    values = np.asarray(scores, dtype=float)
    order = np.argsort(values)[::-1]
    ranked = values[order]
    ends = np.flatnonzero(ranked[1:] != ranked[:-1])
    ends = np.append(ends, len(ranked) - 1)
    true_positives = np.cumsum(np.asarray(positive, dtype=bool)[order], dtype=np.int64)[ends]
    false_positives = ends + 1 - true_positives
    return true_positives, false_positives


def roc_points(positive: ArrayLike, scores: ArrayLike) -> tuple[Any, Any]:
    """(FPR, TPR) from (0, 0), as scikit-learn's ``roc_curve`` (``drop_intermediate=True``: a point collinear with
    its neighbours, which changes neither the drawn curve nor its area, is left out)."""
    import numpy as np

    true_positives, false_positives = threshold_counts(positive, scores)
    if len(true_positives) > 2:
        corner = (np.diff(false_positives, 2) != 0) | (np.diff(true_positives, 2) != 0)
        keep = np.concatenate([[True], corner, [True]])
        true_positives, false_positives = true_positives[keep], false_positives[keep]
    false_positives = np.concatenate([[0], false_positives])
    true_positives = np.concatenate([[0], true_positives])
    return false_positives / false_positives[-1], true_positives / true_positives[-1]


def precision_recall_points(positive: ArrayLike, scores: ArrayLike) -> tuple[Any, Any]:
    """(recall, precision), recall increasing from (0, 1): scikit-learn's ``precision_recall_curve`` (every
    threshold, ``drop_intermediate=False``, and its last point (0, 1)) in reverse order."""
    import numpy as np

    true_positives, false_positives = threshold_counts(positive, scores)
    recall = true_positives / true_positives[-1]
    precision = true_positives / (true_positives + false_positives)
    return np.concatenate([[0.0], recall]), np.concatenate([[1.0], precision])


def trapezoid_area(x: ArrayLike, y: ArrayLike) -> float:
    """The area under the polyline through ``(x, y)``, ``x`` increasing (scikit-learn's ``auc``)."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def roc_class_curves(y_true: Sequence, scores: Scores, pos_label: Any = None) -> list[ClassCurve]:
    """The ROC curve of each class scored (one-vs-rest), the same points as scikit-learn's ``roc_curve``, with its
    AUC (``roc_auc_score``)."""
    curves = []
    for label, positive, values in _one_vs_rest(y_true, scores, pos_label):
        _check_scores(values, label)
        if positive.all() or not positive.any():
            raise UsageError(f"class '{label}' needs both positive and negative samples for a ROC curve")
        fpr, tpr = roc_points(positive, values)
        curves.append(ClassCurve(label, fpr, tpr, trapezoid_area(fpr, tpr), float(positive.mean())))
    return curves


def pr_class_curves(y_true: Sequence, scores: Scores, pos_label: Any = None) -> list[ClassCurve]:
    """The precision-recall curve of each class scored (one-vs-rest), scikit-learn's ``precision_recall_curve``
    from (0, 1) to recall 1, with its average precision (``average_precision_score``)."""
    import numpy as np

    curves = []
    for label, positive, values in _one_vs_rest(y_true, scores, pos_label):
        _check_scores(values, label)
        if not positive.any():
            raise UsageError(f"class '{label}' has no positive samples for a precision-recall curve")
        recall, precision = precision_recall_points(positive, values)
        # average_precision_score's sum, in its order (recall decreasing), for the same rounding.
        average = max(0.0, float(-np.sum(np.diff(recall[::-1]) * precision[::-1][:-1])))
        curves.append(ClassCurve(label, recall, precision, average, float(positive.mean())))
    return curves


#: Most grid points of a drawn macro-average curve: the union of every class's points, else an even grid.
MAX_MACRO_POINTS = 50_000


def _macro_grid(xs: Sequence[Any]) -> Any:
    import numpy as np

    grid = np.unique(np.concatenate([np.asarray(x, dtype=float) for x in xs]))
    return grid if len(grid) <= MAX_MACRO_POINTS else np.linspace(0.0, 1.0, MAX_MACRO_POINTS)


def _piecewise_linear(x: Any, y: Any, at: Any, segment: Any) -> Any:
    """The polyline through ``(x, y)`` at ``at``, on the segment from point ``segment`` to the next (``at`` at its
    end takes the next point's value; outside ``x``, the nearest end's)."""
    import numpy as np

    start = np.clip(segment, 0, len(x) - 1)
    end = np.minimum(start + 1, len(x) - 1)
    width = x[end] - x[start]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(segment < 0, 0.0, np.where(width > 0, np.clip((at - x[start]) / width, 0.0, 1.0), 1.0))
    return y[start] + fraction * (y[end] - y[start])


def macro_roc(curves: Sequence[tuple[ArrayLike, ArrayLike]]) -> tuple[Any, Any]:
    """The macro-average ROC curve of ``(fpr, tpr)`` curves: the mean TPR, linearly interpolated, on the union of
    their FPRs (each FPR twice: a vertical step of any curve is kept), so its area is the mean of their AUCs
    (scikit-learn's ``roc_auc_score(average="macro", multi_class="ovr")``)."""
    import numpy as np

    pairs = [(np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)) for fpr, tpr in curves]
    grid = _macro_grid([fpr for fpr, _ in pairs])
    below = np.zeros_like(grid)
    above = np.zeros_like(grid)
    for fpr, tpr in pairs:
        # The value before a vertical step (the first point at an FPR) and after it (the last).
        below += _piecewise_linear(fpr, tpr, grid, np.searchsorted(fpr, grid, side="left") - 1)
        above += _piecewise_linear(fpr, tpr, grid, np.searchsorted(fpr, grid, side="right") - 1)
    x = np.repeat(grid, 2)
    y = np.column_stack([below, above]).ravel() / len(pairs)
    keep = np.r_[True, (np.diff(x) != 0) | (np.diff(y) != 0)]
    return x[keep], y[keep]


def macro_precision_recall(curves: Sequence[tuple[ArrayLike, ArrayLike]]) -> tuple[Any, Any]:
    """The macro-average precision-recall curve of ``(recall, precision)`` curves (recall increasing): the mean
    precision on the union of their recalls, each curve read as the step function average precision sums
    (at recall r, the precision of the first point reaching r), so the area of the mean, summed the same way
    (:func:`step_area`), is the mean of their average precisions (``average_precision_score(average="macro")``)."""
    import numpy as np

    pairs = [(np.asarray(recall, dtype=float), np.asarray(precision, dtype=float)) for recall, precision in curves]
    grid = _macro_grid([recall for recall, _ in pairs])
    total = np.zeros_like(grid)
    for recall, precision in pairs:
        total += precision[np.minimum(np.searchsorted(recall, grid, side="left"), len(recall) - 1)]
    # Like each curve, the mean ends at its last points' precision (every sample predicted positive): at recall 1
    # with one-vs-rest curves, the mean positive rate. A step of no width, it leaves the area as it is.
    end = float(np.mean([precision[-1] for _, precision in pairs]))
    return np.r_[grid, grid[-1]], np.r_[total / len(pairs), end]


def step_area(recall: ArrayLike, precision: ArrayLike) -> float:
    """Average precision of a curve given in increasing recall: each recall step times the precision reaching it."""
    import numpy as np

    recall = np.asarray(recall, dtype=float)
    return float(np.sum(np.diff(recall) * np.asarray(precision, dtype=float)[1:]))


#: Past this many classes the legend names only the macro average (and chance); the class curves are thin and light.
MAX_LEGEND_CLASSES = 15
#: Room around the unit square, so points on its edges (the end of a PR curve at recall 1) are not under the frame.
AXIS_MARGIN = 0.03
MACRO_COLOR = "black"
CHANCE_COLOR = "#6e6e6e"


def _curve_figure(title: str, x_label: str, y_label: str):
    figure = new_figure(6.4, 5.6)
    axes = figure.add_subplot()
    axes.set_xlim(-AXIS_MARGIN, 1 + AXIS_MARGIN)
    axes.set_ylim(-AXIS_MARGIN, 1 + AXIS_MARGIN)
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    axes.set_xticks(ticks)
    axes.set_yticks(ticks)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(literal(title))
    axes.grid(alpha=0.3)
    return figure, axes


def _palette(count: int) -> list[Any]:
    """Distinct colours: matplotlib's ten for up to ten classes, tab20's twenty beyond (repeating past twenty)."""
    if count <= 10:
        return [f"C{index}" for index in range(10)]
    import matplotlib

    colormap = matplotlib.colormaps["tab20"]
    return [colormap(index) for index in range(colormap.N)]


_KIND_WORDS: dict[CurveKind, tuple[str, str, str, str]] = {
    # kind: (details key, legend name, x label, y label)
    "roc": ("auc", "AUC", "False positive rate", "True positive rate"),
    "pr": ("average_precision", "AP", "Recall", "Precision"),
}


def _draw_curve(axes: Any, kind: CurveKind, x: Any, y: Any, **style: Any) -> Any:
    """One curve; a precision-recall curve is the step function its average precision sums."""
    x, y = downsample(x, y)
    if kind == "pr":
        style.setdefault("drawstyle", "steps-pre")
    line, = axes.plot(x, y, **style)
    return line


def _end_marker(axes: Any, x: Any, y: Any, color: Any, filled: bool = True) -> None:
    """A dot on a precision-recall curve's last point (recall 1), drawn over the frame if need be."""
    axes.plot([x[-1]], [y[-1]], marker="o", markersize=4.5, color=color, markerfacecolor=color if filled else "white",
              linestyle="none", clip_on=False, zorder=5 if filled else 4)  # the head's dot over the base's


def _macro(kind: CurveKind, curves: Sequence[ClassCurve]) -> tuple[Any, Any]:
    pairs = [(curve.x, curve.y) for curve in curves]
    return macro_roc(pairs) if kind == "roc" else macro_precision_recall(pairs)


def draw_curves(
    kind: CurveKind,
    curves: Sequence[ClassCurve],
    output: str,
    title: str,
    base: Sequence[ClassCurve] | None = None,
    base_label: str = "base",
    base_skipped: str | None = None,
) -> Plot:
    """Draw ROC or precision-recall ``curves`` into ``output``, with AUC/AP in the legend, and ``base``'s dashed.

    Several classes get a thick black macro-average curve; past :data:`MAX_LEGEND_CLASSES` classes the legend
    names only it, the class curves thin and light. One class's base curve is drawn dashed in its colour; with
    several, the base's macro average is drawn dashed and each class's base AUC/AP is given in the legend and the
    details. A ROC plot has the chance diagonal; a precision-recall plot the chance line at the positive rate
    (the mean of the classes' rates with several classes, which is also the chance level of the macro average).

    The plot's details hold ``auc`` (or ``average_precision``) ``{label: area}``, ``macro_auc`` with several
    classes, ``positive_rate`` and ``chance`` for precision-recall, and with a base ``base_label``, ``base_auc``,
    ``auc_change`` ``{label: head - base}`` for the classes in both, ``base_macro_auc`` and ``macro_auc_change``,
    and ``classes_only_in_head``/``classes_only_in_base`` when the classes differ; ``base_skipped`` says why a
    base was not drawn (``base_skipped`` given, or no class in common).
    """
    import numpy as np

    check_output(output)
    key, name, x_label, y_label = _KIND_WORDS[kind]
    figure, axes = _curve_figure(title, x_label, y_label)
    details: dict[str, Any] = {key: {curve.label: curve.area for curve in curves}, "classes": len(curves)}
    base_by_label = {curve.label: curve for curve in base or ()}
    head_labels = [curve.label for curve in curves]
    if base is not None and not set(head_labels) & set(base_by_label) and base_skipped is None:
        base_skipped = (f"{base_label} has no curve for {listed(head_labels, quote=True)}; it has "
                        f"{listed(list(base_by_label), quote=True)}")
    if base_skipped is not None:
        base, base_by_label = None, {}
        details.update(base_label=base_label, base_skipped=base_skipped)
    elif base is not None:
        details["base_label"] = base_label
        details[f"base_{key}"] = {curve.label: curve.area for curve in base}
        details[f"{key}_change"] = {curve.label: curve.area - base_by_label[curve.label].area
                                    for curve in curves if curve.label in base_by_label}
        if set(head_labels) != set(base_by_label):
            details["classes_only_in_head"] = [label for label in head_labels if label not in base_by_label]
            details["classes_only_in_base"] = [label for label in base_by_label if label not in set(head_labels)]
    several = len(curves) > 1
    crowded = len(curves) > MAX_LEGEND_CLASSES
    colors = _palette(len(curves))
    entries: list[tuple[Any, str]] = []
    for index, curve in enumerate(curves):
        color = colors[index % len(colors)]
        style = {"linewidth": 0.8, "alpha": 0.35} if crowded else {"linewidth": 1.3 if several else 1.8}
        line = _draw_curve(axes, kind, curve.x, curve.y, color=color, **style)
        if kind == "pr" and not crowded:
            _end_marker(axes, curve.x, curve.y, color)
        head_text = f"{curve.label} ({name} = {curve.area:.3f}"
        base_curve = base_by_label.get(curve.label)
        if base_curve is not None and several:
            head_text += f", {base_label} {base_curve.area:.3f}"
        entries.append((line, head_text + ")"))
        if base_curve is not None and not several:
            dashed = _draw_curve(axes, kind, base_curve.x, base_curve.y, color=color, linewidth=1.5, linestyle="--")
            if kind == "pr":
                _end_marker(axes, base_curve.x, base_curve.y, color, filled=False)
            entries.append((dashed, f"{curve.label} at {base_label} ({name} = {base_curve.area:.3f})"))
    if crowded:
        entries = []
    if several:
        macro_area = float(np.mean([curve.area for curve in curves]))
        details[f"macro_{key}"] = macro_area
        x, y = _macro(kind, curves)
        line = _draw_curve(axes, kind, x, y, color=MACRO_COLOR, linewidth=2.4, zorder=3)
        if kind == "pr":
            _end_marker(axes, x, y, MACRO_COLOR)
        of_classes = f" of {len(curves)} classes" if crowded else ""
        entries.append((line, f"macro average{of_classes} ({name} = {macro_area:.3f})"))
        if base is not None and len(base) > 1:
            base_area = float(np.mean([curve.area for curve in base]))
            details[f"base_macro_{key}"] = base_area
            details[f"macro_{key}_change"] = macro_area - base_area
            x, y = _macro(kind, base)
            line = _draw_curve(axes, kind, x, y, color=MACRO_COLOR, linewidth=1.8, linestyle="--", zorder=3)
            entries.append((line, f"macro average at {base_label} ({name} = {base_area:.3f})"))
    if kind == "roc":
        chance, = axes.plot([0, 1], [0, 1], linestyle=":", color=CHANCE_COLOR, linewidth=1.2)
        entries.append((chance, "chance (AUC = 0.500)"))
    else:
        rates = [curve.positive_rate for curve in curves if curve.positive_rate is not None]
        details["positive_rate"] = {curve.label: curve.positive_rate for curve in curves}
        details["chance"] = float(np.mean(rates)) if rates and len(rates) == len(curves) else None
        if details["chance"] is not None:
            chance, = axes.plot([0, 1], [details["chance"]] * 2, linestyle=":", color=CHANCE_COLOR, linewidth=1.2)
            what = "mean positive rate" if several else "positive rate"
            entries.append((chance, f"chance ({what} {details['chance']:.3f})"))
    legend_if_useful(axes, entries, most=len(entries), loc="lower right" if kind == "roc" else "best",
                     fontsize="small" if len(entries) > 6 else "medium")
    return save_figure(figure, output, title, **details)


def _base_curves(kind: CurveKind, base: tuple[Sequence, Scores] | None, pos_label: Any) -> list[ClassCurve] | None:
    """The base's curves; its errors name the ``base`` parameter."""
    if base is None:
        return None
    if not isinstance(base, (tuple, list)) or len(base) != 2:
        raise UsageError("give the base as (y_true, scores)", parameter="base")
    try:
        return (roc_class_curves if kind == "roc" else pr_class_curves)(base[0], base[1], pos_label)
    except UsageError as error:
        raise UsageError(error.detail, parameter="base") from error


def roc_curve(
    y_true: Sequence,
    scores: Scores,
    output: str = "roc.png",
    title: str = "ROC curve",
    pos_label: Any = None,
    base: tuple[Sequence, Scores] | None = None,
    base_label: str = "base",
) -> Plot:
    """Draw ROC curves: binary from one score array, one-vs-rest from ``{label: scores}``.

    A binary problem's positive class is ``pos_label``; it may be left out only for labels 0/1, -1/1 or
    false/true. With ``{label: scores}``, ``pos_label`` draws that class's curve alone. The legend gives
    each curve's AUC, and with several classes the macro average's (the mean of their AUCs, which is the area
    under the macro-average curve drawn: see :func:`macro_roc`). ``base`` (``(y_true, scores)``, of the base
    branch) is drawn dashed, labelled ``base_label``. :func:`draw_curves` lists the plot's details.
    """
    check_output(output)
    curves = roc_class_curves(y_true, scores, pos_label)
    return draw_curves("roc", curves, output, title, _base_curves("roc", base, pos_label), base_label)


def pr_curve(
    y_true: Sequence,
    scores: Scores,
    output: str = "pr.png",
    title: str = "Precision-recall curve",
    pos_label: Any = None,
    base: tuple[Sequence, Scores] | None = None,
    base_label: str = "base",
) -> Plot:
    """Draw precision-recall curves with average precision (AP) in the legend (``pos_label`` and ``base`` as for
    :func:`roc_curve`), the chance line at the positive rate, and a dot where each curve reaches recall 1.

    With several classes the macro average's AP is the mean of their APs (scikit-learn's
    ``average_precision_score(average="macro")``), the area of the mean-precision curve drawn
    (:func:`macro_precision_recall`).
    """
    check_output(output)
    curves = pr_class_curves(y_true, scores, pos_label)
    return draw_curves("pr", curves, output, title, _base_curves("pr", base, pos_label), base_label)


def _roc_points_curve(fpr: ArrayLike, tpr: ArrayLike, label: str) -> ClassCurve:
    import numpy as np

    false_positive_rates = np.asarray(fpr, dtype=float)
    true_positive_rates = np.asarray(tpr, dtype=float)
    order = np.lexsort((true_positive_rates, false_positive_rates))
    x, y = false_positive_rates[order], true_positive_rates[order]
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))  # the trapezoidal rule
    return ClassCurve(label, x, y, area)


def _pr_points_curve(precision: ArrayLike, recall: ArrayLike, label: str) -> ClassCurve:
    import numpy as np

    recalls = np.asarray(recall, dtype=float)
    precisions = np.asarray(precision, dtype=float)
    # Of points at the same recall the most precise reaches it first, as in average_precision_score.
    order = np.lexsort((-precisions, recalls))
    recalls, precisions = recalls[order], precisions[order]
    if not len(recalls) or recalls[0] > 0:
        # dvclive leaves out scikit-learn's last point; a curve starts at (0, 1) as scikit-learn's do.
        recalls, precisions = np.r_[0.0, recalls], np.r_[1.0, precisions]
    return ClassCurve(label, recalls, precisions, step_area(recalls, precisions))


def _points_base(base: tuple[ArrayLike, ArrayLike] | None) -> tuple[ArrayLike, ArrayLike] | None:
    if base is not None and (not isinstance(base, (tuple, list)) or len(base) != 2):
        raise UsageError("give the base as a pair of arrays", parameter="base")
    return base


def roc_curve_from_points(fpr: ArrayLike, tpr: ArrayLike, output: str = "roc.png", title: str = "ROC curve",
                          label: str = "model", base: tuple[ArrayLike, ArrayLike] | None = None,
                          base_label: str = "base") -> Plot:
    """Draw a ROC curve from precomputed points (dvclive's ``roc.json``); ``base`` (``(fpr, tpr)``) dashed."""
    check_output(output)
    base_points = _points_base(base)
    base_curves = [_roc_points_curve(*base_points, label)] if base_points is not None else None
    return draw_curves("roc", [_roc_points_curve(fpr, tpr, label)], output, title, base_curves, base_label)


def pr_curve_from_points(
    precision: ArrayLike, recall: ArrayLike, output: str = "pr.png", title: str = "Precision-recall curve",
    label: str = "model", base: tuple[ArrayLike, ArrayLike] | None = None, base_label: str = "base",
) -> Plot:
    """Draw a precision-recall curve from precomputed points (dvclive's ``precision_recall.json``); ``base``
    (``(precision, recall)``) dashed. The positive rate is unknown, so there is no chance line."""
    check_output(output)
    base_points = _points_base(base)
    base_curves = [_pr_points_curve(*base_points, label)] if base_points is not None else None
    return draw_curves("pr", [_pr_points_curve(precision, recall, label)], output, title, base_curves, base_label)


def _score_label(column: str, truth_labels: set[str]) -> str | None:
    """The class whose scores ``column`` holds by its name (``cat``, ``prob_cat``…), if any."""
    if column in truth_labels:
        return column
    for prefix in SCORE_PREFIXES:
        if column.startswith(prefix) and column[len(prefix):] in truth_labels:
            return column[len(prefix):]
    return None


def _expand_score_columns(table: Table, truth_column: str, specs: Sequence[str]) -> list[tuple[str, str]]:
    """``(column, label)`` pairs for ``--y-score`` items (``COLUMN``, ``COLUMN=LABEL`` or a glob, which matches
    columns in the file's order); ``label`` is empty when not given."""
    chosen: dict[str, str] = {}
    for spec in specs:
        pattern, _, label = spec.partition("=")
        if pattern in table.data or not any(character in pattern for character in "*?["):
            table.column(pattern, "--y-score")
            chosen.setdefault(pattern, label)
            continue
        matches = [column for column in table.columns if column != truth_column and fnmatchcase(column, pattern)]
        if not matches:
            known = listed(table.columns)
            raise UsageError(f"'{pattern}' matches no column of {table.path}; its columns are: {known}",
                             parameter="y_score")
        if label and len(matches) > 1:
            raise UsageError(f"'{spec}' names one class but '{pattern}' matches {len(matches)} columns "
                             f"({listed(matches, most=5)})", parameter="y_score")
        for column in matches:
            chosen.setdefault(column, label)
    return list(chosen.items())


def _per_class_columns(table: Table, truth_column: str, labels: set[str]) -> list[tuple[str, str]]:
    """``(column, label)`` for a score column per class (named after it, or ``prob_<class>``…), or ``[]``
    unless every class has one; a column named exactly after a class wins over a prefixed one."""
    found: dict[str, str] = {}
    for column in table.columns:
        label = _score_label(column, labels) if column != truth_column else None
        if label is not None and (label not in found or column == label):
            found[label] = column
    if len(labels) < 2 or set(found) != labels:
        return []
    order = {column: index for index, column in enumerate(table.columns)}
    return sorted(((column, label) for label, column in found.items()), key=lambda pair: order[pair[0]])


def scores_from_table(table: Table, y_true: str | None = None, y_score: Sequence[str] = ()) -> tuple[list[str], Any]:
    """Actual labels and scores of ``table``: one array (binary) or ``{label: array}`` (one-vs-rest).

    ``y_score`` items are ``COLUMN``, ``COLUMN=LABEL`` or globs (``prob_*``); a column named after a class,
    or ``prob_<class>``/``score_<class>``…, is that class's score. Without ``y_score``, a ``score`` column
    (``y_score``, ``prob``…) of a binary problem, else a score column per class.
    """
    truth_column = pick_column(table, y_true, ACTUAL_COLUMNS, "--y-true")
    # One pass of a large file for the labels and every column that may hold scores.
    table.prefetch(texts=[truth_column], floats=[name for name in table.numeric_candidates() if name != truth_column])
    truth = table.labels(truth_column, "--y-true")
    distinct = set(truth)
    if y_score:
        pairs = _expand_score_columns(table, truth_column, y_score)
    else:
        generic = next((name for name in SCORE_COLUMNS if name in table.data), None)
        pairs = _per_class_columns(table, truth_column, distinct)
        if generic and (len(distinct) <= 2 or not pairs):
            pairs = [(generic, "")]
        elif not pairs:
            known = listed(table.columns)
            raise InputError(table.path, f"has none of the columns {', '.join(SCORE_COLUMNS)}, nor a score "
                             "column per class (named after the class, or prob_<class>); name the columns with "
                             f"--y-score (columns are: {known})")
    if len(pairs) == 1 and not pairs[0][1]:
        return truth, table.floats(pairs[0][0], "--y-score")
    scores: dict[str, object] = {}
    columns: dict[str, str] = {}
    for column, label in pairs:
        label = label or _score_label(column, distinct) or column
        if label in columns:
            raise UsageError(f"columns '{columns[label]}' and '{column}' are both scores for class '{label}'; "
                             "give one of them", parameter="y_score")
        columns[label] = column
        scores[label] = table.floats(column, "--y-score")
    return truth, scores


def _table_curves(kind: CurveKind, table: Table, y_true: str | None, y_score: Sequence[str], pos_label: str | None,
                  points: bool | None = None) -> tuple[list[ClassCurve], bool]:
    """The curves of a table, and whether they are computed points (dvclive's) rather than scores; ``points``
    (a base table read like its head) requires one or the other."""
    first, second = POINT_COLUMNS[kind]
    has_points = first in table.data and second in table.data
    if points is None:
        points = not y_score and not y_true and has_points
    if points:
        if pos_label is not None:
            raise UsageError(f"{table.path} holds computed points ({first}/{second}), which have no classes",
                             parameter="pos_label")
        if not has_points:
            raise InputError(table.path, f"has no computed points ({first}/{second} columns)")
        from_points = _roc_points_curve if kind == "roc" else _pr_points_curve
        table.prefetch(floats=[first, second])
        return [from_points(table.floats(first), table.floats(second), "model")], True
    truth, scores = scores_from_table(table, y_true, y_score)
    if isinstance(scores, Mapping):
        if pos_label is not None and pos_label not in scores:
            raise UsageError(f"'{pos_label}' is not one of the classes with scores: {listed(scores, quote=True)}",
                             parameter="pos_label")
    else:
        # The advice names the option, as this function's other messages name --y-true and --y-score.
        pos_label = positive_label(truth, pos_label, source=table.path, advice="--pos-label")
    compute = roc_class_curves if kind == "roc" else pr_class_curves
    return compute(truth, scores, pos_label), False


def _reason(error: CmlError, source: str) -> str:
    """An error's message, naming ``source`` (the base file) when it does not already."""
    message = error.detail if isinstance(error, UsageError) else str(error)
    return message if source in message else f"{source}: {message}"


def curve_from_table(
    kind: CurveKind, table: Table, output: str, title: str, y_true: str | None = None, y_score: Sequence[str] = (),
    pos_label: str | None = None, base_table: Table | None = None, base_label: str = "base",
) -> Plot:
    """Draw a ``roc`` or ``pr`` curve from a table of points (dvclive) or of labels and scores
    (``pos_label`` as for :func:`roc_curve`).

    ``base_table`` (the same file on the base branch) is read with the same columns and options and drawn
    dashed. A base that cannot be read so (a column it lacks, a class without samples…) is left out, and
    ``details["base_skipped"]`` says why: a pull request that renames a column still gets its plot.
    """
    check_output(output)
    curves, points = _table_curves(kind, table, y_true, y_score, pos_label)
    base_curves, skipped = None, None
    if base_table is not None:
        try:
            base_curves, _ = _table_curves(kind, base_table, y_true, y_score, pos_label, points)
        except CmlError as error:
            skipped = _reason(error, base_table.path)
    return draw_curves(kind, curves, output, title, base_curves, base_label, skipped)


DEFAULT_TITLES: dict[CurveKind, str] = {"roc": "ROC curve", "pr": "Precision-recall curve"}


def curve_from_file(
    kind: CurveKind,
    path: FilePath,
    output: str,
    *,
    revision: Revision | None = None,
    title: str | None = None,
    y_true: str | None = None,
    y_score: Sequence[str] = (),
    pos_label: str | None = None,
) -> tuple[Plot, list[str]]:
    """Draw a ``roc`` or ``pr`` curve from the table at ``path``, and from the same file at git ``revision`` dashed
    (read from git, no checkout); returns the plot and warnings (one line each) about the comparison.

    A file missing at ``revision``, or that cannot be read there as it is read here, is a warning, not an error:
    the head curve is drawn alone.
    """
    check_output(output)
    table = load_table(path)
    base, reason = base_table(path, revision) if revision is not None else (None, None)
    warnings = [reason] if reason else []
    base_label = revision.name if revision is not None else "base"
    plot = curve_from_table(kind, table, output, title or DEFAULT_TITLES[kind], y_true, y_score, pos_label,
                            base, base_label)
    if "base_skipped" in plot.details:
        warnings.append(f"no comparison with {base_label}: {plot.details['base_skipped']}")
    return plot, warnings
