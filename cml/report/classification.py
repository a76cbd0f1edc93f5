"""Per-class precision, recall, F1 and support from actual/predicted labels.

Small inputs are counted in pure Python, so ``cml metrics classification`` starts without numpy or
scikit-learn; large ones are dictionary-encoded once and counted with numpy. The numbers match
scikit-learn's ``classification_report`` (zero division gives 0).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

from cml.errors import InputError, UsageError
from cml.report.data import Table, TextColumn, natural_sort_key
from cml.report.markdown import Alignment, OutputFormat, markdown_table, terminal_table

ACTUAL_COLUMNS = ("actual", "y_true", "true", "label", "target")
PREDICTED_COLUMNS = ("predicted", "y_pred", "pred", "prediction")
#: Classes the per-class table shows one by one; the others share one "other" row.
MAX_TABLE_CLASSES = 100
#: From this many labels on, counting goes through numpy (faster past its import, which small inputs skip).
NUMPY_COUNTING_FROM = 50_000


def pick_column(table: Table, given: str | None, candidates: Sequence[str], option: str) -> str:
    """The column named by ``option``, else the first of ``candidates`` the table has."""
    if given:
        table.column(given, option)
        return given
    for name in candidates:
        if name in table.data:
            return name
    raise InputError(
        table.path,
        f"has none of the columns {', '.join(candidates)}; name the column with {option} "
        f"(columns are: {', '.join(table.columns[:20])})",
    )


def label_pairs(table: Table, y_true: str | None = None, y_pred: str | None = None) -> tuple[list[str], list[str]]:
    """Actual and predicted labels of ``table`` (DVC/dvclive ``actual``/``predicted`` by default)."""
    actual = pick_column(table, y_true, ACTUAL_COLUMNS, "--y-true")
    predicted = pick_column(table, y_pred, PREDICTED_COLUMNS, "--y-pred")
    table.prefetch(texts=[actual, predicted])
    return table.labels(actual, "--y-true"), table.labels(predicted, "--y-pred")


def sorted_labels(*label_lists: Sequence[str]) -> list[str]:
    """All labels, numbers in numeric order and text alphabetically."""
    return sorted({label for labels in label_lists for label in labels}, key=natural_sort_key)


def label_texts(values: Sequence) -> list[str]:
    """``str(value)`` of each value (labels compare as text: ``1`` and ``"1"`` are one class), without a
    per-label loop when they are text already (the list itself, not a copy) or a numpy array of text,
    integers or booleans."""
    if type(values) is TextColumn or (isinstance(values, list) and set(map(type, values)) <= {str}):
        return values
    array: Any = values
    dtype = getattr(array, "dtype", None)
    if dtype is not None and getattr(array, "ndim", None) == 1:
        # For these kinds numpy writes exactly what str() writes ("7", "True"); floats keep str() (float32!).
        if dtype.kind == "U":
            return array.tolist()
        if dtype.kind in "biu":
            return array.astype(str).tolist()
    return [str(value) for value in values]


def distinct_labels(*label_lists: Sequence[str]) -> list[str]:
    """Each label of ``label_lists`` once, in order of first appearance (hashing, not sorting)."""
    seen: dict[str, None] = {}
    for labels in label_lists:
        seen.update(dict.fromkeys(labels))
    return list(seen)


class _Encoder(dict[str, int]):
    """Label → position in order of first appearance; a label seen for the first time gets the next one."""

    def __missing__(self, label: str) -> int:
        self[label] = position = len(self)
        return position


def encode_labels(*label_lists: Sequence[str]) -> tuple[list[str], list[Any]]:
    """Dictionary encoding: every distinct label of ``label_lists`` in order of first appearance, and each
    list as numpy positions among them (one hash lookup per label, no sorting of text, 32-bit while they fit)."""
    import numpy as np

    encoder = _Encoder()
    dtype = np.int32 if sum(map(len, label_lists)) < 2 ** 31 else np.int64
    codes = [np.fromiter(map(encoder.__getitem__, labels), dtype=dtype, count=len(labels)) for labels in label_lists]
    return list(encoder), codes


def prepare_labels(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    """Actual and predicted labels as text, checked to pair up, and the class list to report on."""
    y_true = label_texts(y_true)
    y_pred = label_texts(y_pred)
    if len(y_true) != len(y_pred):
        raise UsageError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if not y_true:
        raise UsageError("no labels: y_true and y_pred are empty")
    classes = [str(label) for label in labels] if labels is not None else sorted_labels(distinct_labels(y_true, y_pred))
    return y_true, y_pred, classes


def count_labels(y_true: Sequence[str], y_pred: Sequence[str]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """How often each label is the actual one, the predicted one, and both (a correct prediction); labels that
    never occur in a role are left out of its counts."""
    if len(y_true) < NUMPY_COUNTING_FROM:
        return Counter(y_true), Counter(y_pred), Counter(t for t, p in zip(y_true, y_pred) if t == p)
    import numpy as np

    classes, (actual, predicted) = encode_labels(y_true, y_pred)

    def counted(codes: Any) -> dict[str, int]:
        counts = np.bincount(codes, minlength=len(classes))
        present = np.flatnonzero(counts)
        return dict(zip([classes[position] for position in present.tolist()], counts[present].tolist()))

    return counted(actual), counted(predicted), counted(actual[actual == predicted])


@dataclass
class ClassStats:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int = 0
    correct: int = 0

    @property
    def frequency(self) -> int:
        """How often the class occurs, as actual or as predicted label."""
        return self.support + self.predicted


def other_label(count: int) -> str:
    """The label of the row or column that sums ``count`` classes not shown one by one."""
    return f"other ({count:,} classes)"


def most_frequent(frequencies: Sequence[int], count: int) -> list[int]:
    """Positions of the ``count`` largest ``frequencies`` in their original order (ties: the earlier first)."""
    ranked = sorted(range(len(frequencies)), key=lambda position: -frequencies[position])
    return sorted(ranked[:count])


def folding_note(shown: int, total: int, what: str) -> str:
    """What a table or plot of ``total`` classes shows when it shows only ``shown`` of them."""
    return (f"{what} shows the {shown:,} most frequent of {total:,} classes; "
            f"the other {total - shown:,} are summed as '{other_label(total - shown)}'")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def _stats(label: str, correct: int, predicted: int, support: int) -> ClassStats:
    precision = _ratio(correct, predicted)
    recall = _ratio(correct, support)
    return ClassStats(label, precision, recall, _f1(precision, recall), support, predicted, correct)


@dataclass
class ClassificationReport:
    """Per-class statistics plus accuracy and macro/weighted averages."""

    classes: list[ClassStats]
    accuracy: float
    total: int

    @classmethod
    def from_labels(cls, y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None) -> ClassificationReport:
        y_true, y_pred, labels = prepare_labels(y_true, y_pred, labels)
        support, predicted, correct = count_labels(y_true, y_pred)
        classes = []
        for label in labels:
            classes.append(_stats(label, correct.get(label, 0), predicted.get(label, 0), support.get(label, 0)))
        return cls(classes, _ratio(sum(correct.values()), len(y_true)), len(y_true))

    def shown_classes(self, max_classes: int) -> list[ClassStats]:
        """The classes a table shows one by one: all, or the ``max_classes`` most frequent and then one
        "other" row that sums the rest (precision and recall over their samples together)."""
        if len(self.classes) <= max_classes:
            return list(self.classes)
        kept = set(most_frequent([c.frequency for c in self.classes], max_classes))
        rest = [c for position, c in enumerate(self.classes) if position not in kept]
        other = _stats(other_label(len(rest)), sum(c.correct for c in rest), sum(c.predicted for c in rest),
                       sum(c.support for c in rest))
        return [c for position, c in enumerate(self.classes) if position in kept] + [other]

    def averages(self) -> dict[str, ClassStats]:
        count = len(self.classes) or 1
        weight = sum(c.support for c in self.classes) or 1
        macro = ClassStats(
            "macro avg",
            sum(c.precision for c in self.classes) / count,
            sum(c.recall for c in self.classes) / count,
            sum(c.f1 for c in self.classes) / count,
            sum(c.support for c in self.classes),
        )
        weighted = ClassStats(
            "weighted avg",
            sum(c.precision * c.support for c in self.classes) / weight,
            sum(c.recall * c.support for c in self.classes) / weight,
            sum(c.f1 * c.support for c in self.classes) / weight,
            sum(c.support for c in self.classes),
        )
        return {"macro": macro, "weighted": weighted}

    def to_dict(self) -> dict:
        averages = self.averages()
        as_dict = lambda c: {"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}  # noqa: E731
        return {
            "classes": {c.label: as_dict(c) for c in self.classes},
            "accuracy": self.accuracy,
            "macro_avg": as_dict(averages["macro"]),
            "weighted_avg": as_dict(averages["weighted"]),
        }

    def render(self, output_format: OutputFormat = "md", precision: int = 3, max_classes: int = MAX_TABLE_CLASSES) -> str:
        """A table with a row per class (past ``max_classes``, the most frequent and one "other" row, with a
        note saying so), then accuracy and the averages over every class. JSON holds every class."""
        if output_format == "json":
            return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)
        number = lambda v: f"{v:.{precision}f}"  # noqa: E731
        shown = self.shown_classes(max_classes)
        rows = [[c.label, number(c.precision), number(c.recall), number(c.f1), str(c.support)] for c in shown]
        averages = self.averages()
        rows.append(["accuracy", "", "", number(self.accuracy), str(self.total)])
        for stats in averages.values():
            rows.append([stats.label, number(stats.precision), number(stats.recall), number(stats.f1), str(stats.support)])
        if output_format == "md":
            rows[-3:] = [[f"**{row[0]}**", *row[1:]] for row in rows[-3:]]
        headers = ["Class", "Precision", "Recall", "F1", "Support"]
        align: list[Alignment] = ["left", "right", "right", "right", "right"]
        render = markdown_table if output_format == "md" else terminal_table
        table = render(headers, rows, align)
        if len(self.classes) > max_classes:
            table += f"\n\n{folding_note(max_classes, len(self.classes), 'This table')}; averages cover every class."
        return table
