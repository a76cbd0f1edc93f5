"""ROC and precision-recall curves from scores, or from points a tool already computed."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, Union
from collections.abc import Mapping, Sequence

from cml.errors import InputError, UsageError
from cml.report.classification import ACTUAL_COLUMNS, pick_column
from cml.report.data import Table, listed, natural_sort_key
from cml.report.plots.common import (
    Plot,
    check_output,
    downsample,
    legend_if_useful,
    literal,
    new_figure,
    numeric_array,
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


def _one_vs_rest(y_true: Sequence, scores: Scores, pos_label: Any = None) -> list[tuple[str, Any, Any]]:
    """(label, is-positive array, scores array) for each curve to draw."""
    import numpy as np

    truth = np.asarray([str(v) for v in y_true])
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
            if len(values) != len(truth):
                raise UsageError(f"{len(values)} scores for class '{label}' but {len(truth)} labels")
            curves.append((str(label), truth == str(label), values))
        return curves
    values = np.asarray(scores, dtype=float)
    if len(values) != len(truth):
        raise UsageError(f"{len(values)} scores but {len(truth)} labels")
    positive = positive_label(truth.tolist(), pos_label)
    return [(positive, truth == positive, values)]


def _curve_figure(title: str, x_label: str, y_label: str):
    figure = new_figure(6.4, 5.6)
    axes = figure.add_subplot()
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(literal(title))
    axes.grid(alpha=0.3)
    return figure, axes


def _check_scores(values, label: str) -> None:
    import numpy as np

    if not np.all(np.isfinite(values)):
        raise UsageError(f"scores for class '{label}' contain NaN or infinite values")


def roc_curve(
    y_true: Sequence,
    scores: Scores,
    output: str = "roc.png",
    title: str = "ROC curve",
    pos_label: Any = None,
) -> Plot:
    """Draw ROC curves: binary from one score array, one-vs-rest from ``{label: scores}``.

    A binary problem's positive class is ``pos_label``; it may be left out only for labels 0/1, -1/1 or
    false/true. With ``{label: scores}``, ``pos_label`` draws that class's curve alone. The legend gives
    each curve's AUC; the plot's details hold them too.
    """
    from sklearn.metrics import auc, roc_curve as sk_roc_curve

    check_output(output)
    figure, axes = _curve_figure(title, "False positive rate", "True positive rate")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    areas = {}
    entries = []
    curves = _one_vs_rest(y_true, scores, pos_label)
    for label, positive, values in curves:
        _check_scores(values, label)
        if positive.all() or not positive.any():
            raise UsageError(f"class '{label}' needs both positive and negative samples for a ROC curve")
        fpr, tpr, _ = sk_roc_curve(positive, values)
        areas[label] = float(auc(fpr, tpr))
        x, y = downsample(fpr, tpr)
        line, = axes.plot(x, y, linewidth=1.5)
        entries.append((line, f"{label} (AUC = {areas[label]:.3f})"))
    legend_if_useful(axes, entries, loc="lower right")
    if len(curves) > 15:
        axes.set_title(f"{literal(title)} — macro AUC {sum(areas.values()) / len(areas):.3f}")
    return save_figure(figure, output, title, auc=areas)


def roc_curve_from_points(fpr: ArrayLike, tpr: ArrayLike, output: str = "roc.png",
                          title: str = "ROC curve", label: str = "model") -> Plot:
    """Draw a ROC curve from precomputed points (dvclive's ``roc.json``)."""
    import numpy as np

    check_output(output)
    false_positive_rates = np.asarray(fpr, dtype=float)
    true_positive_rates = np.asarray(tpr, dtype=float)
    order = np.lexsort((true_positive_rates, false_positive_rates))
    x_sorted, y_sorted = false_positive_rates[order], true_positive_rates[order]
    area = float(np.sum(np.diff(x_sorted) * (y_sorted[1:] + y_sorted[:-1]) / 2))  # the trapezoidal rule
    figure, axes = _curve_figure(title, "False positive rate", "True positive rate")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    x, y = downsample(x_sorted, y_sorted)
    line, = axes.plot(x, y, linewidth=1.5)
    legend_if_useful(axes, [(line, f"{label} (AUC = {area:.3f})")], loc="lower right")
    return save_figure(figure, output, title, auc={label: area})


def pr_curve(
    y_true: Sequence, scores: Scores, output: str = "pr.png", title: str = "Precision-recall curve",
    pos_label: Any = None,
) -> Plot:
    """Draw precision-recall curves with average precision (AP) in the legend (``pos_label`` as for
    :func:`roc_curve`)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    check_output(output)
    figure, axes = _curve_figure(title, "Recall", "Precision")
    precisions = {}
    entries = []
    curves = _one_vs_rest(y_true, scores, pos_label)
    for label, positive, values in curves:
        _check_scores(values, label)
        if not positive.any():
            raise UsageError(f"class '{label}' has no positive samples for a precision-recall curve")
        precision, recall, _ = precision_recall_curve(positive, values)
        precisions[label] = float(average_precision_score(positive, values))
        x, y = downsample(recall[::-1], precision[::-1])
        line, = axes.plot(x, y, linewidth=1.5, drawstyle="steps-post")
        entries.append((line, f"{label} (AP = {precisions[label]:.3f})"))
    legend_if_useful(axes, entries, loc="lower left")
    return save_figure(figure, output, title, average_precision=precisions)


def pr_curve_from_points(
    precision: ArrayLike, recall: ArrayLike, output: str = "pr.png",
    title: str = "Precision-recall curve", label: str = "model",
) -> Plot:
    """Draw a precision-recall curve from precomputed points (dvclive's ``precision_recall.json``)."""
    import numpy as np

    check_output(output)
    recalls = np.asarray(recall, dtype=float)
    precisions = np.asarray(precision, dtype=float)
    order = np.argsort(recalls, kind="stable")
    recalls, precisions = recalls[order], precisions[order]
    average = float(np.sum(np.diff(recalls, prepend=0.0) * precisions))
    figure, axes = _curve_figure(title, "Recall", "Precision")
    x, y = downsample(recalls, precisions)
    line, = axes.plot(x, y, linewidth=1.5, drawstyle="steps-post")
    legend_if_useful(axes, [(line, f"{label} (AP = {average:.3f})")], loc="lower left")
    return save_figure(figure, output, title, average_precision={label: average})


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
        return truth, numeric_array(table, pairs[0][0], "--y-score")
    scores: dict[str, object] = {}
    columns: dict[str, str] = {}
    for column, label in pairs:
        label = label or _score_label(column, distinct) or column
        if label in columns:
            raise UsageError(f"columns '{columns[label]}' and '{column}' are both scores for class '{label}'; "
                             "give one of them", parameter="y_score")
        columns[label] = column
        scores[label] = numeric_array(table, column, "--y-score")
    return truth, scores


def curve_from_table(
    kind: CurveKind, table: Table, output: str, title: str, y_true: str | None = None, y_score: Sequence[str] = (),
    pos_label: str | None = None,
) -> Plot:
    """Draw a ``roc`` or ``pr`` curve from a table of points (dvclive) or of labels and scores
    (``pos_label`` as for :func:`roc_curve`)."""
    check_output(output)
    first, second = POINT_COLUMNS[kind]
    if not y_score and not y_true and first in table.data and second in table.data:
        if pos_label is not None:
            raise UsageError(f"{table.path} holds computed points ({first}/{second}), which have no classes",
                             parameter="pos_label")
        draw_points = roc_curve_from_points if kind == "roc" else pr_curve_from_points
        return draw_points(numeric_array(table, first), numeric_array(table, second), output, title)
    truth, scores = scores_from_table(table, y_true, y_score)
    if isinstance(scores, Mapping):
        if pos_label is not None and pos_label not in scores:
            raise UsageError(f"'{pos_label}' is not one of the classes with scores: {listed(scores, quote=True)}",
                             parameter="pos_label")
    else:
        # The advice names the option, as this function's other messages name --y-true and --y-score.
        pos_label = positive_label(truth, pos_label, source=table.path, advice="--pos-label")
    draw = roc_curve if kind == "roc" else pr_curve
    return draw(truth, scores, output, title, pos_label)
