"""Metrics and params: load, compare across git revisions, and render.

A diff compares the working tree (or a head revision) with the same files at a
base revision read straight from git. Each metric has a direction (higher or
lower is better) taken from the user's patterns or from its name, so a change
is reported as better or worse, not merely as a sign.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Generic, Literal, Protocol, TypeVar, overload
from collections.abc import Iterable, Mapping, Sequence

from cml import git
from cml.errors import InputError, UsageError
from cml.report import dvc
from cml.report.data import MAX_TABLE_BYTES, DocumentKind, flatten, is_number, load_metrics
from cml.report.markdown import (
    MISSING,
    Alignment,
    OutputFormat,
    escape_html,
    format_percent,
    markdown_table,
    number_formatter,
    signed_formatter,
    terminal_table,
)
from cml.report.runs import TrackedRun
from cml.report.sparklines import trend_cell

WORKSPACE = "workspace"
DEFAULT_PRECISION = 5

LOWER_IS_BETTER_WORDS = frozenset(
    {"loss", "error", "err", "mse", "rmse", "mae", "mape", "logloss", "perplexity", "wer", "cer"}
)
HIGHER_IS_BETTER_WORDS = frozenset(
    {"accuracy", "acc", "f1", "auc", "precision", "recall", "r2", "ap", "map", "iou", "bleu", "rouge"}
)

#: Which way a metric improves.
Direction = Literal["higher", "lower"]
#: How a metric changed between the two sides of a diff (``changed``: with no known direction, or not a number).
Status = Literal["added", "removed", "unchanged", "better", "worse", "changed"]

STATUS_WORDS_MD: dict[Status, str] = {
    "better": "✅ better", "worse": "❌ worse", "added": "➕ added", "removed": "➖ removed",
}


class _Absent:
    """A metric that one side of a diff does not have (distinct from a null value)."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT = _Absent()


_CAMEL_CASE = re.compile(r"([a-z0-9])([A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def name_tokens(name: str) -> list[str]:
    """Words of a metric name: ``val_loss`` and ``valLoss`` both give ``[val, loss]``."""
    spaced = _CAMEL_CASE.sub(r"\1_\2", name)
    return [token for token in _NOT_WORD.split(spaced.lower()) if token]


@functools.lru_cache(maxsize=4096)
def _default_direction(name: str) -> Direction | None:
    """The direction the last known metric word of ``name`` gives (cached: files of a diff share names)."""
    for token in reversed(name_tokens(name)):
        if token in LOWER_IS_BETTER_WORDS:
            return "lower"
        if token in HIGHER_IS_BETTER_WORDS:
            return "higher"
    return None


@functools.lru_cache(maxsize=256)
def _globs(patterns: tuple[str, ...]) -> Callable[[str], Any]:
    """One compiled regular expression matching what any of the globs ``patterns`` matches (case-insensitively, on
    lower-case text, as :func:`fnmatch.fnmatchcase` of the lower-cased pattern)."""
    return re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in patterns)).match


def _matches_any(match: Callable[[str], Any], path: str, name: str) -> bool:
    if match(name.lower()):
        return True
    leaf = name[max(name.rfind("."), name.rfind("/")) + 1:]  # the name's last part after "." or "/"
    return bool(match(leaf.lower()) or match(f"{path}:{name}".lower()))


def pattern_matches(pattern: str, path: str, name: str) -> bool:
    """Glob ``pattern`` against the full metric name, its last part, or ``path:name``."""
    return _matches_any(_globs((pattern,)), path, name)


def patterns_matcher(patterns: Sequence[str]) -> Callable[[str, str], bool]:
    """``matches(path, name)``: whether :func:`pattern_matches` holds for any of ``patterns``, with the globs
    compiled once into one regular expression (for checking many metrics)."""
    if not patterns:
        return lambda path, name: False
    match = _globs(tuple(patterns))
    return lambda path, name: _matches_any(match, path, name)


@dataclass(frozen=True)
class DirectionRules:
    """Which metrics improve upwards and which downwards.

    The user's patterns win; otherwise the last word of the name that is a known
    metric word decides (``val_loss`` → lower, ``roc_auc`` → higher).
    """

    higher: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    use_defaults: bool = True

    def direction(self, path: str, name: str) -> Direction | None:
        """``"higher"``, ``"lower"`` or ``None`` when unknown."""
        if self.lower and _matches_any(_globs(tuple(self.lower)), path, name):
            return "lower"
        if self.higher and _matches_any(_globs(tuple(self.higher)), path, name):
            return "higher"
        return _default_direction(name) if self.use_defaults else None


_T = TypeVar("_T")


class _computed_once(Generic[_T]):  # noqa: N801 (used like functools.cached_property)
    """:func:`functools.cached_property` without its lock (Python before 3.12 takes one on every first read, the
    largest cost of a diff of 10,000 metrics); the value is stored in the instance, so later reads are plain
    attribute reads. Computing a value twice in two threads would give the same value."""

    def __init__(self, function: Callable[[Any], _T]):
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _computed_once[_T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> _T | _computed_once[_T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.function(instance)
        return value


@dataclass(frozen=True)
class MetricDelta:
    """One metric (or param) compared between a base and a head; derived values are computed once (a diff of
    10,000 metrics asks for each several times)."""

    path: str
    name: str
    base: Any
    head: Any
    direction: Direction | None = None

    @_computed_once
    def numeric(self) -> bool:
        return is_number(self.base) and is_number(self.head)

    @_computed_once
    def change(self) -> float | None:
        """``head - base`` for numbers, else ``None``.

        Computed on the numbers as written (``0.55 - 0.5`` is ``0.05``, not
        ``0.050000000000000044``), so a gate at exactly the threshold is not broken by float noise.
        """
        if not self.numeric:
            return None
        if isinstance(self.base, int) and isinstance(self.head, int):
            return self.head - self.base
        if not (math.isfinite(self.base) and math.isfinite(self.head)):
            return 0.0 if self.base == self.head else self.head - self.base
        return float(Decimal(repr(self.head)) - Decimal(repr(self.base)))

    @_computed_once
    def relative_change(self) -> float | None:
        """Change divided by ``|base|``; ``None`` when it is undefined (base 0)."""
        change = self.change
        if change is None:
            return None
        if self.base == 0:
            return 0.0 if change == 0 else None
        if math.isfinite(self.base) and math.isfinite(self.head):
            base = Decimal(repr(self.base))
            return float((Decimal(repr(self.head)) - base) / abs(base))
        return change / abs(self.base)

    @_computed_once
    def unchanged(self) -> bool:
        if self.base is ABSENT or self.head is ABSENT:
            return False
        if self.numeric:
            both_nan = math.isnan(self.base) and math.isnan(self.head)
            return both_nan or self.base == self.head
        return type(self.base) is type(self.head) and self.base == self.head

    @_computed_once
    def status(self) -> Status:
        """One of ``added``, ``removed``, ``unchanged``, ``better``, ``worse``, ``changed``."""
        if self.base is ABSENT:
            return "added"
        if self.head is ABSENT:
            return "removed"
        if self.unchanged:
            return "unchanged"
        change = self.change
        if change is not None and self.direction and not math.isnan(change):
            improved = change > 0 if self.direction == "higher" else change < 0
            return "better" if improved else "worse"
        return "changed"


_new_object = object.__new__


def _delta(path: str, name: str, base: Any, head: Any, direction: Direction | None) -> MetricDelta:
    """``MetricDelta(path, name, base, head, direction)`` with its status known: a diff of many metrics makes
    one per metric and asks each for its status.

    Two floats (nearly every metric) are settled here in one step, by the same arithmetic as the properties: an
    unchanged pair only gets its status (its change is computed if asked for), a changed finite pair also its change
    and relative change, which share one exact difference. Anything else is left to the properties.
    """
    delta = _new_object(MetricDelta)
    fields = delta.__dict__
    fields["path"], fields["name"], fields["base"], fields["head"], fields["direction"] = (
        path, name, base, head, direction)
    if type(base) is not float or type(head) is not float:
        return delta
    if base == head:
        fields["numeric"], fields["unchanged"], fields["status"] = True, True, "unchanged"
    elif base - base == 0.0 and head - head == 0.0:  # both finite
        exact_base = Decimal(repr(base))
        difference = Decimal(repr(head)) - exact_base
        change = float(difference)
        relative = (0.0 if change == 0 else None) if base == 0 else float(difference / abs(exact_base))
        if direction:
            improved = change > 0 if direction == "higher" else change < 0
            status = "better" if improved else "worse"
        else:
            status = "changed"
        fields["numeric"], fields["unchanged"], fields["change"], fields["relative_change"], fields["status"] = (
            True, False, change, relative, status)
    return delta


# -- reading both sides ----------------------------------------------------------------------


class SideFiles(Protocol):
    """The files of one side of a diff: :class:`RevisionFiles` or :class:`WorkspaceFiles`."""

    @property
    def label(self) -> str:
        """The side's name in tables: the revision, or ``workspace``."""
        ...

    def prefetch(self, paths: Iterable[str]) -> None:
        """Read ``paths`` at once (a missing one is not an error), so that the calls that follow are cheap."""
        ...

    def __call__(self, path: str) -> bytes | None:
        """The bytes of ``path``, or ``None`` when this side does not have it."""
        ...


class RevisionFiles:
    """Batched, cached reads of files at one git revision."""

    def __init__(self, revision: git.Revision):
        self.revision = revision
        self._cache: dict[str, bytes | None] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        missing = [p for p in paths if p not in self._cache]
        if missing:
            # The largest limit of any document kind bounds memory; each kind's own limit is checked on parsing.
            self._cache.update(self.revision.read_files(missing, MAX_TABLE_BYTES, "metrics and params files"))

    def __call__(self, path: str) -> bytes | None:
        self.prefetch([path])
        return self._cache[path]

    @property
    def label(self) -> str:
        return self.revision.name


class WorkspaceFiles:
    """Reads of files in the working tree, with the same interface as :class:`RevisionFiles`."""

    label = WORKSPACE

    def __init__(self, cwd: str | None = None):
        self.cwd = cwd or "."

    def prefetch(self, paths: Iterable[str]) -> None:
        pass

    def __call__(self, path: str) -> bytes | None:
        return dvc.read_workspace(os.path.join(self.cwd, path))


DISCOVERY_FILES = (dvc.DVC_YAML, dvc.DEFAULT_PARAMS, dvc.DVCLIVE_METRICS, dvc.DVCLIVE_PARAMS, *dvc.CONVENTIONAL_METRICS)


def _load_side(reader: SideFiles, paths: Sequence[str], kind: DocumentKind) -> dict[str, dict[str, Any]]:
    reader.prefetch(paths)
    loaded = {}
    for path in paths:
        data = reader(path)
        if data is not None:
            label = None if reader.label == WORKSPACE else f"{path} (at {reader.label})"
            loaded[path] = load_metrics(path, data, label, kind)
    return loaded


def load_both_sides(
    kind: DocumentKind, base_reader: SideFiles, head_reader: SideFiles, files: Sequence[str] | None
) -> tuple[list[str], dict[str, dict], dict[str, dict]]:
    """Load ``files`` (or the discovered ``kind`` files) on both sides of a diff."""
    if files:
        paths = [os.path.normpath(os.fspath(f)).replace(os.sep, "/") for f in files]
    else:
        head_reader.prefetch(DISCOVERY_FILES)
        workspace = head_reader.cwd if isinstance(head_reader, WorkspaceFiles) else None  # links out are refused there
        head_paths = dvc.discover(kind, head_reader, workspace)
        # The files the base's dvc.yaml names are nearly always the head's: read with it, in one git process.
        base_reader.prefetch([*DISCOVERY_FILES, *head_paths])
        paths = list(dict.fromkeys(head_paths + dvc.discover(kind, base_reader)))
        if not paths:
            raise UsageError(
                f"no {kind} files found: name them (cml {kind} diff REV FILE…) "
                f"or list them under '{kind}:' in dvc.yaml"
            )
    base = _load_side(base_reader, paths, kind)
    head = _load_side(head_reader, paths, kind)
    for path in paths:
        if path not in base and path not in head:
            raise InputError(path, f"not found in the {head_reader.label} nor at {base_reader.label}; check the path")
    return paths, base, head


def compare(
    paths: Sequence[str],
    base: Mapping[str, Mapping[str, Any]],
    head: Mapping[str, Mapping[str, Any]],
    rules: DirectionRules | None = None,
) -> list[MetricDelta]:
    """Every metric of every file, in file order then the head's key order."""
    deltas: list[MetricDelta] = []
    append = deltas.append
    for path in paths:
        base_metrics = base.get(path, {})
        head_metrics = head.get(path, {})
        base_value, head_value = base_metrics.get, head_metrics.get
        for name in dict.fromkeys([*head_metrics, *base_metrics]):
            direction = rules.direction(path, name) if rules else None
            append(_delta(path, name, base_value(name, ABSENT), head_value(name, ABSENT), direction))
    return deltas


@dataclass
class MetricsDiff:
    """The result of comparing metrics (or params) between two sides."""

    deltas: list[MetricDelta]
    base_label: str
    head_label: str
    kind: DocumentKind = "metrics"

    def changed(self) -> list[MetricDelta]:
        """Every delta but the unchanged ones."""
        return [d for d in self.deltas if d.status != "unchanged"]


def diff_revisions(
    base_revision: str,
    files: Sequence[str] | None = None,
    head_revision: str | None = None,
    kind: DocumentKind = "metrics",
    rules: DirectionRules | None = None,
    cwd: str | None = None,
) -> MetricsDiff:
    """Compare ``files`` in the working tree (or at ``head_revision``) with ``base_revision``."""
    base_reader = RevisionFiles(git.resolve(base_revision, cwd))
    head_reader: SideFiles = RevisionFiles(git.resolve(head_revision, cwd)) if head_revision else WorkspaceFiles(cwd)
    if kind == "metrics" and rules is None:
        rules = DirectionRules()
    paths, base, head = load_both_sides(kind, base_reader, head_reader, files)
    return MetricsDiff(compare(paths, base, head, rules), base_reader.label, head_reader.label, kind)


def diff_values(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    path: str = "",
    base_label: str = "base",
    head_label: str = "head",
    rules: DirectionRules | None = None,
) -> MetricsDiff:
    """Compare two in-memory metric mappings (nested or flat), e.g. two training runs."""
    rules = rules or DirectionRules()
    deltas = compare([path], {path: flatten(dict(base))}, {path: flatten(dict(head))}, rules)
    return MetricsDiff(deltas, base_label, head_label)


def diff_runs(
    base: TrackedRun,
    head: TrackedRun,
    kind: DocumentKind = "metrics",
    rules: DirectionRules | None = None,
    base_label: str | None = None,
    head_label: str | None = None,
) -> MetricsDiff:
    """Compare two tracked runs (such as :class:`cml.trackers.RunData`): their metrics, or their params with
    ``kind="params"``."""
    side = (lambda run: run.metrics) if kind == "metrics" else (lambda run: run.params)
    if kind == "metrics" and rules is None:
        rules = DirectionRules()
    path = head.label
    deltas = compare([path], {path: dict(side(base))}, {path: dict(side(head))}, rules)
    return MetricsDiff(deltas, base_label or base.label, head_label or head.label, kind)


def load_workspace(files: Sequence[str] | None = None, kind: DocumentKind = "metrics") -> dict[str, dict[str, Any]]:
    """Flattened metrics of ``files`` (or the discovered ones) in the working tree."""
    if not files:
        files = dvc.discover(kind, dvc.read_workspace, ".")
        if not files:
            raise UsageError(
                f"no {kind} files found: name them (cml {kind} show FILE…) or list them under '{kind}:' in dvc.yaml"
            )
    return {os.fspath(path): load_metrics(path, kind=kind) for path in files}


# -- rendering ---------------------------------------------------------------------------------


def render_diff(
    result: MetricsDiff,
    output_format: OutputFormat = "md",
    precision: int = DEFAULT_PRECISION,
    show_all: bool = False,
    show_path: bool = True,
    gates: Sequence[Any] = (),
    history: Mapping[tuple[str, str], Sequence[Any]] | None = None,
) -> str:
    """Render a diff as Markdown (``md``), JSON (``json``) or a terminal table (``table``).

    ``gates`` (:class:`cml.report.gates.GateResult`) follow the table as one line per rule, or
    form the ``"gates"`` list in JSON. JSON keeps every number at full precision.
    ``history`` (:func:`cml.report.history.diff_history`: each metric's values, oldest first, the head's
    last) adds a Trend column of sparklines, or a ``"history"`` list to each metric in JSON.
    """
    deltas = result.deltas if show_all else result.changed()
    if output_format == "json":
        return _diff_json(deltas, gates, history)
    table = _diff_table(result, deltas, output_format, precision, show_path, history)
    if not gates:
        return table
    if output_format == "md":
        return table + "\n\n**Quality gates**\n\n" + "\n".join(gate.markdown() for gate in gates)
    return table + "\n\nQuality gates:\n" + "\n".join("  " + gate.text() for gate in gates)


def _diff_table(result: MetricsDiff, deltas: Sequence[MetricDelta], output_format: OutputFormat, precision: int,
                show_path: bool, history: Mapping[tuple[str, str], Sequence[Any]] | None = None) -> str:
    is_metrics = result.kind == "metrics"
    headers = ["Path", "Metric" if is_metrics else "Param", result.base_label, result.head_label, "Change"]
    align: list[Alignment] = ["left", "left", "right", "right", "right"]
    if is_metrics:
        headers += ["Change %", "Status"]
        align += ["right", "left"]
    number, signed = number_formatter(precision), signed_formatter(precision)
    status_words: dict[Status, str] = STATUS_WORDS_MD if output_format == "md" else {}
    rows = []
    for delta in deltas:
        change, base, head = delta.change, delta.base, delta.head
        row = [
            delta.path,
            delta.name,
            MISSING if base is ABSENT else number(base),
            MISSING if head is ABSENT else number(head),
            MISSING if change is None else signed(change),
        ]
        if is_metrics:
            status = delta.status
            row.append(MISSING if change is None else format_percent(delta.relative_change))
            row.append("" if status == "changed" else status_words.get(status, status))
        if history is not None:
            row.append(trend_cell(history.get((delta.path, delta.name), ()), output_format))
        rows.append(row)
    if history is not None:
        headers.append("Trend")
        align.append("left")
    if not show_path:
        headers, align, rows = headers[1:], align[1:], [row[1:] for row in rows]
    if not rows:
        escape = escape_html if output_format == "md" else str
        return f"No changes in {result.kind} between {escape(result.base_label)} and {escape(result.head_label)}."
    if output_format == "md":
        return markdown_table(headers, rows, align)
    return terminal_table(headers, rows, align)


def _json_value(value: Any) -> Any:
    if value is ABSENT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _diff_json(deltas: Sequence[MetricDelta], gates: Sequence[Any] = (),
               history: Mapping[tuple[str, str], Sequence[Any]] | None = None) -> str:
    document: dict[str, Any] = {}
    for delta in deltas:
        entry = {"old": _json_value(delta.base), "new": _json_value(delta.head)}
        if delta.change is not None:
            entry["diff"] = _json_value(delta.change)
            relative = delta.relative_change
            entry["relative"] = None if relative is None else _json_value(relative)
        entry["status"] = delta.status
        if delta.direction:
            entry["direction"] = delta.direction
        if history is not None:
            entry["history"] = [_json_value(value) for value in history.get((delta.path, delta.name), ())]
        document.setdefault(delta.path, {})[delta.name] = entry
    if gates:
        document["gates"] = [gate.to_json() for gate in gates]
    return json.dumps(document, indent=2, ensure_ascii=False)


def render_values(
    metrics: Mapping[str, Mapping[str, Any]],
    output_format: OutputFormat = "md",
    precision: int = DEFAULT_PRECISION,
    show_path: bool = True,
    kind: DocumentKind = "metrics",
) -> str:
    """Render metrics of one side (``cml metrics show``); JSON keeps every number at full precision."""
    if output_format == "json":
        return json.dumps(
            {path: {k: _json_value(v) for k, v in values.items()} for path, values in metrics.items()},
            indent=2,
            ensure_ascii=False,
        )
    headers = ["Path", "Metric" if kind == "metrics" else "Param", "Value"]
    align: list[Alignment] = ["left", "left", "right"]
    number = number_formatter(precision)
    rows = [[path, name, number(value)] for path, values in metrics.items() for name, value in values.items()]
    if not show_path:
        headers, align, rows = headers[1:], align[1:], [row[1:] for row in rows]
    if output_format == "md":
        return markdown_table(headers, rows, align)
    return terminal_table(headers, rows, align)
