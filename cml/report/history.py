"""Metric history: the metrics files at each of the last commits of a branch, with sparklines and a trend plot.

Every commit is read straight from git, without a checkout, by one ``git cat-file --batch`` process
(:class:`cml.git.ObjectReader`) in three exchanges however many commits: the commits (``BASE~0``, ``BASE~1``…,
first parents), then the discovery files of each (``dvc.yaml``, dvclive's, ``metrics.json``), then the files
each ``dvc.yaml`` names. A file whose bytes did not change between commits is parsed once. The working tree is
the last point.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

from cml import git
from cml.ci import default_base_revision
from cml.errors import GitError, InputError, UsageError
from cml.fileio import too_large
from cml.report import dvc
from cml.report.data import document_limit, is_number, listed, load_metrics
from cml.report.markdown import (
    MISSING,
    Alignment,
    OutputFormat,
    escape_inline,
    format_number,
    format_signed,
    markdown_table,
    terminal_table,
)
from cml.report.metrics import DEFAULT_PRECISION, WORKSPACE, MetricDelta, MetricsDiff, pattern_matches
from cml.report.plots.common import Plot, check_output, literal, new_figure, save_figure, thin_ticks
from cml.report.sparklines import SPARK_LEVELS, as_float, sparkline, trend_cell

__all__ = [
    "SPARK_LEVELS", "HistoryPoint", "MetricHistory", "diff_history", "history_plot", "metric_history",
    "render_history", "sparkline", "trend_cell",
]

DEFAULT_COUNT = 20
#: Most commits one history reads.
MAX_COUNT = 1000
#: Rows a history table shows by default (JSON has every metric).
MAX_ROWS = 50
#: Panels of a trend plot: one per metric, the first ones.
MAX_PANELS = 12
#: Most distinct numbers a history holds (metrics × distinct file versions, and metrics × points).
MAX_HISTORY_VALUES = 2_000_000
SHORT_SHA = 7
#: What discovery looks at in each commit; a commit whose versions of these are those of an earlier one names the
#: same files, so the walk does not parse its dvc.yaml again.
DISCOVERY_FILES = (dvc.DVC_YAML, dvc.DVCLIVE_METRICS, *dvc.CONVENTIONAL_METRICS)
#: How many unreadable files a history names in its notes.
MAX_NAMED_ERRORS = 3


@dataclass(frozen=True)
class HistoryPoint:
    """One point of a history: a commit of the base branch, or the working tree (``sha`` is ``None``)."""

    sha: str | None
    timestamp: int | None = None
    subject: str = ""

    @property
    def label(self) -> str:
        """The short sha, or ``workspace``."""
        return self.sha[:SHORT_SHA] if self.sha else WORKSPACE

    @property
    def date(self) -> str | None:
        """The committer date as ``YYYY-MM-DD`` (UTC); ``None`` for the working tree."""
        if self.timestamp is None:
            return None
        return datetime.datetime.fromtimestamp(self.timestamp, datetime.timezone.utc).strftime("%Y-%m-%d")

    def to_json(self) -> dict[str, Any]:
        """The point as JSON: sha, committer time (ISO 8601, UTC) and subject; ``sha`` null for the workspace."""
        if self.sha is None:
            return {"sha": None, "label": WORKSPACE}
        time = datetime.datetime.fromtimestamp(self.timestamp or 0, datetime.timezone.utc)
        return {"sha": self.sha, "label": self.label, "date": time.isoformat(), "subject": self.subject}


#: A metric's key in a history: its file and its flattened name.
MetricKey = tuple[str, str]


@dataclass
class MetricHistory:
    """Numeric metrics over the commits of a branch, oldest first, then the working tree.

    ``series[(path, name)]`` holds one value per point of ``commits`` (``None`` where the metric is missing
    or not a number). ``examined`` commits were read; ``skipped`` of them had none of the metrics files.
    ``notes`` are one-line remarks for the reader (skipped commits, a shallow clone, unreadable files).
    """

    base: str
    commits: list[HistoryPoint]
    series: dict[MetricKey, list[Any]]
    skipped: int = 0
    notes: list[str] = field(default_factory=list)
    examined: int = 0

    @property
    def paths(self) -> list[str]:
        """The metrics files, in the order of the series."""
        return list(dict.fromkeys(path for path, _ in self.series))

    @property
    def has_workspace(self) -> bool:
        """Whether the last point is the working tree."""
        return bool(self.commits) and self.commits[-1].sha is None


# -- reading ------------------------------------------------------------------------------------


def _fetch_history_hint(revision: str, count: int) -> str:
    remote, _, branch = revision.partition("/")
    if branch and remote in ("origin", "upstream"):
        return (f"fetch its history first: git fetch --depth={count} {remote} {branch}:refs/remotes/{remote}/{branch} "
                "(or fetch-depth: 0 in actions/checkout)")
    return f"fetch its history first: git fetch --depth={count} origin {revision} (or fetch-depth: 0 in actions/checkout)"


def _deepen_hint(revision: str, missing: int) -> str:
    remote, _, branch = revision.partition("/")
    where = f" {remote} {branch}" if branch and remote in ("origin", "upstream") else ""
    return f"fetch more with git fetch --deepen={missing}{where} (or fetch-depth: 0 in actions/checkout)"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


#: Longest commit object read (a longer message is not read; the commit keeps its place with no subject).
MAX_COMMIT_BYTES = 1024 * 1024


def first_parent_commits(reader: git.ObjectReader, base: str, count: int) -> tuple[list[git.Commit], bool]:
    """The first ``count`` commits of ``base``'s first-parent history, newest first, asked for at once
    (``BASE~0``, ``BASE~1``…), and whether the history stops early because the clone is shallow."""
    commits: list[git.Commit] = []
    stopped = False
    for answer in reader.stream([f"{base}~{index}" for index in range(count)], [MAX_COMMIT_BYTES] * count):
        stopped = stopped or answer is None or answer.kind != "commit"
        if stopped or answer is None:  # every answer is read, so that the reader can take the next requests
            continue
        if answer.data is None:
            commits.append(git.Commit(answer.sha, (), 0, ""))
        else:
            commits.append(git.Commit.parse(answer.sha, answer.data))
    shallow = len(commits) < count and bool(commits) and bool(commits[-1].parents)
    return commits, shallow


class _Walk:
    """Reads the metrics files of many commits through one :class:`cml.git.ObjectReader`, parsing each distinct
    file version once.

    Two exchanges with git, however many commits: the discovery files (or the given files) of every commit, then
    the files that each commit's ``dvc.yaml`` names; answers are handled as they come, so one file at a time is
    held in memory.
    """

    def __init__(self, reader: git.ObjectReader, files: Sequence[str] | None):
        self.reader = reader
        self.files = list(files) if files else None
        self.parsed: dict[tuple[str, str], dict[str, Any] | InputError] = {}
        self.discovered: dict[tuple[str | None, ...], list[str]] = {}
        self.stored_values = 0
        self.seen_paths: dict[str, None] = {}

    def _requests(self, pairs: Sequence[tuple[git.Commit, str]]) -> Any:
        names = [self.reader.file_name(commit.sha, path) for commit, path in pairs]
        limits: list[int | None] = [document_limit(path)[0] for _, path in pairs]
        return self.reader.stream(names, limits)

    def _discover(self, objects: Mapping[str, git.GitObject | None]) -> list[str]:
        signature = tuple(found.sha if (found := objects.get(path)) is not None else None for path in DISCOVERY_FILES)
        if signature not in self.discovered:
            def content(path: str) -> bytes | None:
                found = objects.get(path)
                if found is None:
                    return None
                return found.data if found.data is not None else b""  # over the limit: there, refused when loaded

            self.discovered[signature] = dvc.discover("metrics", content)
        return self.discovered[signature]

    def _found(self, path: str, found: git.GitObject | None, commit: git.Commit) -> dict[str, Any] | InputError | None:
        if found is None:
            return None
        self.seen_paths[path] = None
        key = (path, found.sha)
        if key not in self.parsed:
            self.parsed[key] = self._parse(path, found, commit.sha)
        return self.parsed[key]

    def load(self, commits: Sequence[git.Commit]) -> list[tuple[dict[str, dict[str, Any]], list[InputError]]]:
        """For each commit, the numeric metrics of each of its metrics files and the errors of those it could
        not read."""
        candidates = self.files if self.files is not None else list(DISCOVERY_FILES)
        answers = self._requests([(commit, path) for commit in commits for path in candidates])
        files: list[list[str]] = []
        results: list[dict[str, dict[str, Any] | InputError | None]] = []
        later: list[tuple[int, git.Commit, str]] = []
        for index, commit in enumerate(commits):
            objects = {path: git.blob_or_none(next(answers)) for path in candidates}
            paths = self.files if self.files is not None else self._discover(objects)
            files.append(paths)
            result: dict[str, dict[str, Any] | InputError | None] = {}
            for path in paths:
                if path in objects:
                    result[path] = self._found(path, objects[path], commit)
                else:
                    later.append((index, commit, path))
            results.append(result)
        if later:
            answers = self._requests([(commit, path) for _, commit, path in later])
            for (index, commit, path), answer in zip(later, answers):
                results[index][path] = self._found(path, git.blob_or_none(answer), commit)
        loaded = []
        for paths, result in zip(files, results):
            metrics = {path: found for path in paths if isinstance(found := result.get(path), dict)}
            errors = [found for path in paths if isinstance(found := result.get(path), InputError)]
            loaded.append((metrics, errors))
        return loaded

    def _parse(self, path: str, found: git.GitObject, sha: str) -> dict[str, Any] | InputError:
        label = f"{path} (at {sha[:SHORT_SHA]})"
        try:
            if found.data is None:
                raise too_large(label, found.size, *document_limit(path))
            numbers = {name: value for name, value in load_metrics(path, found.data, label).items()
                       if is_number(value)}
        except InputError as error:
            return error
        self.stored_values += len(numbers)
        if self.stored_values > MAX_HISTORY_VALUES:
            raise UsageError(f"the metrics files change too much to follow: over {MAX_HISTORY_VALUES:,} distinct "
                             f"values in the last commits; lower the count of commits or name the files", parameter="count")
        return numbers


def _workspace_point(files: Sequence[str] | None, cwd: str) -> dict[str, dict[str, Any]]:
    def read(path: str) -> bytes | None:
        return dvc.read_workspace(os.path.join(cwd, path))

    paths = list(files) if files else dvc.discover("metrics", read, cwd)
    loaded = {}
    for path in paths:
        data = read(path)
        if data is not None:
            loaded[path] = {name: value for name, value in load_metrics(path, data).items() if is_number(value)}
    return loaded


def _normalized(files: Sequence[str] | None) -> list[str] | None:
    if not files:
        return None
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    return list(dict.fromkeys(os.path.normpath(os.fspath(f)).replace(os.sep, "/") for f in files))


@dataclass
class _Walked:
    """What a walk found: the points with metrics (oldest first, then the working tree) and their metrics by file,
    the notes, the commits examined and skipped, and the metrics files seen."""

    points: list[HistoryPoint]
    loaded: list[dict[str, dict[str, Any]]]
    notes: list[str]
    examined: int
    skipped: int
    seen: list[str]


def _collect(count: int, files: Sequence[str] | None, base: str, cwd: str, workspace: bool) -> _Walked:
    """Walk the first-parent history of ``base`` (and the working tree, with ``workspace``)."""
    if count < 1 or count > MAX_COUNT:
        raise UsageError(f"the count of commits must be between 1 and {MAX_COUNT}", parameter="count")
    if "\n" in base:
        raise UsageError("a revision name cannot hold a line break", parameter="base")
    points: list[HistoryPoint] = []
    loaded: list[dict[str, dict[str, Any]]] = []
    errors: list[InputError] = []
    skipped = unreadable = 0
    with git.ObjectReader(cwd) as reader:
        commits, shallow = first_parent_commits(reader, base, count)
        if not commits and base == "HEAD":
            raise GitError("HEAD has no commit yet: commit the metrics files first")
        if not commits:
            raise GitError(f"revision '{base}' is not in this clone; {_fetch_history_hint(base, count)}")
        walk = _Walk(reader, files)
        for commit, (metrics, failed) in zip(commits, walk.load(commits)):
            errors.extend(failed)
            if metrics:
                points.append(HistoryPoint(commit.sha, commit.timestamp, commit.subject))
                loaded.append(metrics)
            elif failed:
                unreadable += 1
            else:
                skipped += 1
    examined = len(commits)
    points.reverse()
    loaded.reverse()
    seen = list(walk.seen_paths)
    notes = []
    if skipped:
        names = list(files or seen or ["metrics files"])
        without = " or ".join(names[:3]) + (" or …" if len(names) > 3 else "")
        notes.append(f"{_plural(skipped, 'commit')} without {without} skipped")
    if unreadable:
        notes.append(f"{_plural(unreadable, 'commit')} with unreadable metrics skipped")
    for error in errors[:MAX_NAMED_ERRORS]:
        notes.append(str(error))
    if len(errors) > MAX_NAMED_ERRORS:
        notes.append(f"{len(errors) - MAX_NAMED_ERRORS} more unreadable files")
    if shallow:
        notes.append(f"the history stops after {_plural(examined, 'commit')} of {count}: this clone is shallow; "
                     f"{_deepen_hint(base, count - examined)}")
    if workspace:
        current = _workspace_point(files, cwd)
        if current:
            points.append(HistoryPoint(None))
            loaded.append(current)
            seen = list(dict.fromkeys([*current, *seen]))
    return _Walked(points, loaded, notes, examined, skipped, seen)


def _keys(loaded: Sequence[Mapping[str, Mapping[str, Any]]], paths: Sequence[str]) -> list[MetricKey]:
    """Every metric, file by file in ``paths`` order, newest point's order first."""
    by_path: dict[str, dict[str, None]] = {path: {} for path in paths}
    for metrics in reversed(loaded):
        for path, values in metrics.items():
            by_path.setdefault(path, {}).update(dict.fromkeys(values))
    return [(path, name) for path, names in by_path.items() for name in names]


def metric_history(
    count: int = DEFAULT_COUNT,
    metrics: Sequence[str] = (),
    files: Sequence[str] | None = None,
    base: str | None = None,
    cwd: str | os.PathLike | None = None,
    *,
    workspace: bool = True,
) -> MetricHistory:
    """The numeric metrics at each of the last ``count`` commits of ``base``'s first-parent history, plus the
    working tree (unless ``workspace`` is false), read from one git process without a checkout.

    ``metrics`` are names or globs (matched like ``--higher-is-better`` patterns; default: every numeric
    metric); ``files`` the metrics files (default: those ``dvc.yaml`` names at each commit, else dvclive's or
    ``metrics.json``); ``base`` the branch (default: the pull request's target branch in CI, else ``HEAD``).
    Commits without the files are skipped and counted; one whose file cannot be read (over the size limit,
    invalid) is skipped and named in :attr:`MetricHistory.notes`.
    """
    base = base or default_base_revision()
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)  # one name, not its letters
    folder = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    paths = _normalized(files)
    walked = _collect(count, paths, base, folder, workspace)
    if not walked.points:
        commits = _plural(walked.examined, "commit")
        if paths:
            raise InputError(paths[0], f"not found in the last {commits} of {base} nor in the working tree; check "
                                       "the path")
        raise UsageError(f"no metrics files found in the last {commits} of {base} nor in the working tree: name "
                         "them (--file) or list them under 'metrics:' in dvc.yaml", parameter="files")
    keys = _keys(walked.loaded, paths or walked.seen)
    if metrics:
        unmatched = [p for p in metrics if not any(pattern_matches(p, path, name) for path, name in keys)]
        if unmatched:
            names = listed(dict.fromkeys(name for _, name in keys), 10, quote=True)
            raise UsageError(f"no numeric metric matches '{unmatched[0]}'; the metrics are {names}", parameter="metrics")
        keys = [(path, name) for path, name in keys if any(pattern_matches(p, path, name) for p in metrics)]
    if len(keys) * len(walked.points) > MAX_HISTORY_VALUES:
        raise UsageError(f"{len(keys):,} metrics over {len(walked.points)} points are too many to follow; name the "
                         "metrics to show, or lower the count of commits", parameter="metrics")
    series = {(path, name): [point.get(path, {}).get(name) for point in walked.loaded] for path, name in keys}
    return MetricHistory(base, walked.points, series, walked.skipped, walked.notes, walked.examined)


def diff_history(
    result: MetricsDiff,
    count: int,
    base: str,
    files: Sequence[str] | None = None,
    cwd: str | os.PathLike | None = None,
) -> tuple[dict[MetricKey, list[Any]], list[str]]:
    """For each metric of a diff, its values at the last ``count`` commits of ``base`` then its head value: the
    ``history`` of :func:`cml.report.metrics.render_diff`'s Trend column (one git process); and the notes of the
    walk (skipped commits, a shallow clone)."""
    folder = os.path.realpath(os.fspath(cwd) if cwd is not None else os.getcwd())
    walked = _collect(count, _normalized(files), base, folder, workspace=False)
    trends = {(delta.path, delta.name): [*(point.get(delta.path, {}).get(delta.name) for point in walked.loaded),
                                         delta.head if is_number(delta.head) else None]
              for delta in result.deltas}
    return trends, walked.notes


# -- rendering ----------------------------------------------------------------------------------


def _first_value(values: Sequence[Any]) -> Any:
    return next((value for value in values if value is not None), None)


def _extremes(values: Sequence[Any]) -> tuple[Any, Any]:
    """The lowest and highest value as written (NaN left out); ``None`` for a series without numbers."""
    ranked = [(number, value) for value in values if (number := as_float(value)) is not None]
    if not ranked:
        return None, None
    return min(ranked, key=lambda pair: pair[0])[1], max(ranked, key=lambda pair: pair[0])[1]


@dataclass(frozen=True)
class _Summary:
    first: Any
    last: Any
    change: float | None
    low: Any
    high: Any


def _summary(key: MetricKey, values: Sequence[Any]) -> _Summary:
    first, last = _first_value(values), values[-1] if values else None
    change = MetricDelta(key[0], key[1], first, last).change if first is not None and last is not None else None
    low, high = _extremes(values)
    return _Summary(first, last, change, low, high)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _span(history: MetricHistory) -> str:
    commits = [point for point in history.commits if point.sha is not None]
    if not commits:
        text = f"no commit of {history.base} has the metrics"
    elif len(commits) == 1:
        text = f"1 commit of {history.base}, {commits[0].label} ({commits[0].date})"
    else:
        text = (f"{len(commits)} commits of {history.base}, {commits[0].label} ({commits[0].date}) → "
                f"{commits[-1].label} ({commits[-1].date})")
    return "History: " + text + (", then the workspace" if history.has_workspace else "")


def render_history(history: MetricHistory, output_format: OutputFormat = "md", precision: int = DEFAULT_PRECISION,
                   max_rows: int | None = MAX_ROWS) -> str:
    """A table of each metric's first and last value, change, minimum, maximum and sparkline (``md`` or
    ``table``) followed by a line naming the commits and the notes; or (``json``) every series in full, with
    the commits' shas."""
    if output_format == "json":
        return _history_json(history)
    show_path = len(history.paths) > 1
    headers = ["Path", "Metric", "First", "Last", "Change", "Min", "Max", "Trend"]
    align: list[Alignment] = ["left", "left", "right", "right", "right", "right", "right", "left"]
    rows = []
    keys = list(history.series)
    shown = keys if max_rows is None else keys[:max_rows]
    for key in shown:
        values = history.series[key]
        summary = _summary(key, values)
        rows.append([
            key[0], key[1],
            format_number(summary.first, precision),
            format_number(summary.last, precision),
            MISSING if summary.change is None else format_signed(summary.change, precision),
            format_number(summary.low, precision),
            format_number(summary.high, precision),
            trend_cell(values, output_format),
        ])
    if not show_path:
        headers, align, rows = headers[1:], align[1:], [row[1:] for row in rows]
    lines = [_span(history)]
    if len(shown) < len(keys):
        lines.append(f"{len(shown)} of {len(keys)} metrics shown")
    lines.extend(history.notes)
    if output_format == "md":
        table = markdown_table(headers, rows, align) if rows else "No numeric metrics."
        return table + "\n\n" + "  \n".join(escape_inline(line) for line in lines)
    table = terminal_table(headers, rows, align) if rows else "No numeric metrics."
    return table + "\n\n" + "\n".join(lines)


def _history_json(history: MetricHistory) -> str:
    metrics: dict[str, dict[str, Any]] = {}
    for key, values in history.series.items():
        summary = _summary(key, values)
        metrics.setdefault(key[0], {})[key[1]] = {
            "values": [_json_number(value) for value in values],
            "first": _json_number(summary.first),
            "last": _json_number(summary.last),
            "change": _json_number(summary.change),
            "min": _json_number(summary.low),
            "max": _json_number(summary.high),
            "sparkline": sparkline(values),
        }
    document = {
        "base": history.base,
        "commits": [point.to_json() for point in history.commits],
        "examined": history.examined,
        "skipped": history.skipped,
        "notes": history.notes,
        "metrics": metrics,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


# -- plot ---------------------------------------------------------------------------------------


def _ticks(count: int, most: int) -> list[int]:
    ticks = thin_ticks(count, most)
    if ticks and ticks[-1] != count - 1:
        step = ticks[1] - ticks[0] if len(ticks) > 1 else count
        if count - 1 - ticks[-1] < step / 2:
            ticks[-1] = count - 1
        else:
            ticks.append(count - 1)
    return ticks


def history_plot(history: MetricHistory, output: str | os.PathLike = "metric_history.png",
                 title: str = "Metric history", max_panels: int = MAX_PANELS) -> Plot:
    """Small multiples of the trends: one panel per metric (the first ``max_panels``), commits oldest to newest
    along x with their short shas, the working tree marked with a star.

    ``Plot.details`` holds ``panels`` (drawn) and ``metrics`` (in the history).
    """
    output = check_output(output)
    keys = list(history.series)[:max_panels]
    if not keys:
        raise UsageError("no numeric metric to plot", parameter="metrics")
    columns = 1 if len(keys) == 1 else 2 if len(keys) <= 4 else 3
    rows = -(-len(keys) // columns)
    figure = new_figure(8.0 if columns == 1 else 9.6, 1.0 + 2.2 * rows)
    grid = figure.subplots(rows, columns, sharex=True, squeeze=False)
    panels = [axes for row in grid for axes in row]
    labels = [point.label for point in history.commits]
    positions = list(range(len(labels)))
    show_path = len(history.paths) > 1
    markers = len(labels) <= 60
    for axes, key in zip(panels, keys):
        values = [as_float(value) for value in history.series[key]]
        ys = [math.nan if value is None else value for value in values]
        axes.plot(positions, ys, color="C0", linewidth=1.5, marker="o" if markers else None, markersize=3)
        if history.has_workspace and values[-1] is not None and math.isfinite(values[-1]):
            axes.plot([positions[-1]], [values[-1]], linestyle="none", marker="*", markersize=11, color="C3",
                      label=WORKSPACE)
        name = f"{key[0]}: {key[1]}" if show_path else key[1]
        axes.set_title(literal(name, 60), fontsize=10)
        axes.grid(alpha=0.3)
        axes.tick_params(labelsize=8)
    for axes in panels[len(keys):]:
        axes.set_visible(False)
    ticks = _ticks(len(labels), 12 if columns == 1 else 6)
    for index, axes in enumerate(panels[: len(keys)]):
        below = index + columns
        if below >= len(keys):  # the lowest drawn panel of its column carries the commit labels
            axes.xaxis.set_tick_params(labelbottom=True)
        axes.set_xticks(ticks)
        axes.set_xticklabels([literal(labels[i]) for i in ticks], rotation=45, ha="right", fontsize=8)
    if len(positions) == 1:
        panels[0].set_xlim(-1, 1)
    caption = f"{literal(title)} — {literal(_span(history).removeprefix('History: '))}"
    figure.suptitle(caption if len(caption) <= 110 else literal(title), fontsize=11)
    return save_figure(figure, output, title, panels=len(keys), metrics=len(history.series))
