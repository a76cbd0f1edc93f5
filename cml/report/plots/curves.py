"""ROC and precision-recall curves from scores, or from points a tool already computed."""

from __future__ import annotations

from typing import Mapping, Sequence

from cml.errors import UsageError
from cml.report.classification import ACTUAL_COLUMNS, pick_column
from cml.report.data import Table, natural_sort_key
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

SCORE_COLUMNS = ("score", "y_score", "prob", "probability", "proba", "prediction_score")
SCORE_PREFIXES = ("score_", "prob_", "proba_", "probability_", "y_score_")
POINT_COLUMNS = {"roc": ("fpr", "tpr"), "pr": ("precision", "recall")}

_POSITIVE_LABELS = ("1", "true", "yes", "positive", "pos")


def default_positive_label(labels: Sequence[str]) -> str:
    """The positive class of a binary problem: ``1``/``true``/``yes`` if present, else the last label."""
    distinct = sorted(set(labels), key=natural_sort_key)
    for candidate in _POSITIVE_LABELS:
        for label in distinct:
            if label.lower() == candidate:
                return label
    return distinct[-1]


def _one_vs_rest(y_true: Sequence, scores) -> list[tuple[str, object, object]]:
    """(label, is-positive array, scores array) for each curve to draw."""
    import numpy as np

    truth = np.asarray([str(v) for v in y_true])
    if isinstance(scores, Mapping):
        if not scores:
            raise UsageError("no score columns given", option="--y-score")
        curves = []
        for label, values in scores.items():
            values = np.asarray(values, dtype=float)
            if len(values) != len(truth):
                raise UsageError(f"{len(values)} scores for class '{label}' but {len(truth)} labels")
            curves.append((str(label), truth == str(label), values))
        return curves
    values = np.asarray(scores, dtype=float)
    if len(values) != len(truth):
        raise UsageError(f"{len(values)} scores but {len(truth)} labels")
    distinct = set(truth.tolist())
    if len(distinct) > 2:
        raise UsageError(
            f"{len(distinct)} classes need one score column per class (one-vs-rest); give --y-score once per class"
        )
    positive = default_positive_label(list(distinct))
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
    scores,
    output: str = "roc.png",
    title: str = "ROC curve",
) -> Plot:
    """Draw ROC curves: binary from one score array, one-vs-rest from ``{label: scores}``.

    The legend gives each curve's AUC; the plot's details hold them too.
    """
    from sklearn.metrics import auc, roc_curve as sk_roc_curve

    check_output(output)
    figure, axes = _curve_figure(title, "False positive rate", "True positive rate")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    areas = {}
    entries = []
    curves = _one_vs_rest(y_true, scores)
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


def roc_curve_from_points(fpr, tpr, output: str = "roc.png", title: str = "ROC curve", label: str = "model") -> Plot:
    """Draw a ROC curve from precomputed points (dvclive's ``roc.json``)."""
    import numpy as np

    check_output(output)
    order = np.lexsort((np.asarray(tpr, dtype=float), np.asarray(fpr, dtype=float)))
    fpr = np.asarray(fpr, dtype=float)[order]
    tpr = np.asarray(tpr, dtype=float)[order]
    area = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))
    figure, axes = _curve_figure(title, "False positive rate", "True positive rate")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    x, y = downsample(fpr, tpr)
    line, = axes.plot(x, y, linewidth=1.5)
    legend_if_useful(axes, [(line, f"{label} (AUC = {area:.3f})")], loc="lower right")
    return save_figure(figure, output, title, auc={label: area})


def pr_curve(y_true: Sequence, scores, output: str = "pr.png", title: str = "Precision-recall curve") -> Plot:
    """Draw precision-recall curves with average precision (AP) in the legend."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    check_output(output)
    figure, axes = _curve_figure(title, "Recall", "Precision")
    precisions = {}
    entries = []
    curves = _one_vs_rest(y_true, scores)
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
    precision, recall, output: str = "pr.png", title: str = "Precision-recall curve", label: str = "model"
) -> Plot:
    """Draw a precision-recall curve from precomputed points (dvclive's ``precision_recall.json``)."""
    import numpy as np

    check_output(output)
    recall = np.asarray(recall, dtype=float)
    precision = np.asarray(precision, dtype=float)
    order = np.argsort(recall, kind="stable")
    recall, precision = recall[order], precision[order]
    average = float(np.sum(np.diff(recall, prepend=0.0) * precision))
    figure, axes = _curve_figure(title, "Recall", "Precision")
    x, y = downsample(recall, precision)
    line, = axes.plot(x, y, linewidth=1.5, drawstyle="steps-post")
    legend_if_useful(axes, [(line, f"{label} (AP = {average:.3f})")], loc="lower left")
    return save_figure(figure, output, title, average_precision={label: average})


def _score_label(column: str, truth_labels: set[str]) -> str:
    if column in truth_labels:
        return column
    for prefix in SCORE_PREFIXES:
        if column.startswith(prefix) and column[len(prefix):] in truth_labels:
            return column[len(prefix):]
    return column


def scores_from_table(table: Table, y_true: str | None = None, y_score: Sequence[str] = ()):
    """Actual labels and scores of ``table``: one array (binary) or ``{label: array}`` (one-vs-rest).

    ``y_score`` items are ``COLUMN`` or ``COLUMN=LABEL``; a column named after a
    class, or ``prob_<class>``/``score_<class>``, is that class's score.
    """
    truth = table.labels(pick_column(table, y_true, ACTUAL_COLUMNS, "--y-true"), "--y-true")
    columns = list(y_score) or [pick_column(table, None, SCORE_COLUMNS, "--y-score")]
    if len(columns) == 1 and "=" not in columns[0]:
        return truth, numeric_array(table, columns[0], "--y-score")
    distinct = set(truth)
    scores = {}
    for spec in columns:
        column, _, label = spec.partition("=")
        scores[label or _score_label(column, distinct)] = numeric_array(table, column, "--y-score")
    return truth, scores


def curve_from_table(
    kind: str, table: Table, output: str, title: str, y_true: str | None = None, y_score: Sequence[str] = ()
) -> Plot:
    """Draw a ``roc`` or ``pr`` curve from a table of points (dvclive) or of labels and scores."""
    check_output(output)
    first, second = POINT_COLUMNS[kind]
    if not y_score and not y_true and first in table.data and second in table.data:
        draw_points = roc_curve_from_points if kind == "roc" else pr_curve_from_points
        return draw_points(numeric_array(table, first), numeric_array(table, second), output, title)
    truth, scores = scores_from_table(table, y_true, y_score)
    draw = roc_curve if kind == "roc" else pr_curve
    return draw(truth, scores, output, title)
