"""Line plots of training curves, with a base revision overlaid as dashed lines."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

from cml.errors import InputError, UsageError
from cml.git import Revision
from cml.report.data import MAX_TABLE_BYTES, TABLE_FILES, Table, listed, load_table
from cml.report.metrics import pattern_matches
from cml.report.plots.common import (
    MAX_DRAWN_POINTS,
    Plot,
    Series,
    check_output,
    downsample,
    legend_if_useful,
    literal,
    new_figure,
    save_figure,
)
from cml.report.runs import TrackedRun

X_CANDIDATES = ("step", "epoch", "iteration", "x")
#: x columns counted in whole numbers: their ticks are integers.
INTEGER_X = ("step", "steps", "global_step", "epoch", "epochs", "iteration", "iterations", "iter", "batch", "round",
             "row")
#: A title lists the metrics drawn when there are at most this many (and the list is short); else it names the source.
MAX_TITLE_METRICS = 3
MAX_TITLE_LENGTH = 60


def line_plot(
    series: Sequence[Series],
    output: str = "plot.png",
    title: str | None = None,
    x_label: str = "step",
    y_label: str | None = None,
    log_y: bool = False,
    integer_x: bool | None = None,
) -> Plot:
    """Draw ``series`` into ``output``; series sharing a ``color_key`` share a colour.

    Without ``title`` or ``y_label`` (``None``; ``""`` draws none), both come from the series' ``metric`` names:
    see :func:`curves_title` and :func:`metrics_label`. The x ticks are whole numbers when ``integer_x``, or by
    default when ``x_label`` is a counter (``step``, ``epoch``, ``iteration``…) or every x value is whole.
    Each series is thinned to about 4,000 drawn points with every bucket's minimum and maximum kept, so a
    million-point curve draws as fast as a few thousand points.
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    if not series:
        raise UsageError("nothing to plot: give at least one y column")
    check_output(output)
    metrics = metric_names(series)
    if title is None:
        title = curves_title(metrics)
    if y_label is None:
        y_label = metrics_label(metrics)
    figure = new_figure(8.0, 4.8)
    axes = figure.add_subplot()
    colors: dict[str, str] = {}
    palette = [f"C{i}" for i in range(10)]
    entries = []
    whole = True
    for item in series:
        key = item.color_key or item.label
        color = colors.setdefault(key, palette[len(colors) % len(palette)])
        x, y = downsample(item.x, item.y, MAX_DRAWN_POINTS)
        finite = x[np.isfinite(x)]
        whole = whole and bool(np.all(finite == np.round(finite)))
        line, = axes.plot(x, y, color=color, linewidth=1.4, linestyle="--" if item.dashed else "-")
        entries.append((line, item.label))
    if integer_x is None:
        integer_x = x_label.lower() in INTEGER_X or whole
    if integer_x:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
        axes.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(literal(x_label))
    if y_label:
        axes.set_ylabel(literal(y_label))
    if title:
        axes.set_title(literal(title))
    axes.grid(alpha=0.3)
    # One line that the y label already names needs no legend.
    if not (len(entries) == 1 and entries[0][1] in (y_label, title)):
        legend_if_useful(axes, entries, most=20)
    return save_figure(figure, output, title or "plot", points=sum(len(s.y) for s in series))


def metric_names(series: Sequence[Series]) -> list[str]:
    """The distinct ``metric`` names of ``series``, in order."""
    return list(dict.fromkeys(item.metric for item in series if item.metric))


def _last_word(name: str) -> str:
    return re.split(r"[/._\-\s]+", name.strip().lower())[-1]


def metrics_label(metrics: Sequence[str]) -> str:
    """The y label of a plot of ``metrics``: the metric's name when there is one (``val_accuracy``), the last
    word they share when there are several (``loss`` for ``train/loss`` and ``val_loss``), else ``""``."""
    if len(metrics) == 1:
        return metrics[0]
    words = {_last_word(name) for name in metrics}
    return words.pop() if len(words) == 1 and metrics else ""


def curves_title(metrics: Sequence[str], sources: Sequence[str] = ()) -> str:
    """The title of a plot of ``metrics`` read from ``sources`` (file names, a run's label): the metric names
    (``loss, val_loss``) when there are few, else the sources (``train, eval`` or ``5 files``), else ``""``."""
    listed_metrics = ", ".join(metrics)
    if metrics and len(metrics) <= MAX_TITLE_METRICS and len(listed_metrics) <= MAX_TITLE_LENGTH:
        return listed_metrics
    if not sources:
        return ""
    return ", ".join(sources) if len(sources) <= MAX_TITLE_METRICS else f"{len(sources)} files"


def series_names(paths: Sequence[str]) -> list[str]:
    """Short names for files: their paths without the common folder and the extension."""
    stems = [os.path.abspath(os.path.splitext(os.path.normpath(p))[0]) for p in paths]
    if len(stems) == 1:
        return [os.path.basename(stems[0])]
    common = os.path.commonpath(stems)
    return [os.path.relpath(stem, common) if stem != common else os.path.basename(stem) for stem in stems]


def x_name_of(table: Table, x: str | None = None) -> str | None:
    """The x column: ``x``, else the first of ``step``, ``epoch``… the table has (``None``: the row number)."""
    return x or next((candidate for candidate in X_CANDIDATES if candidate in table.data), None)


def x_values(table: Table, x: str | None = None) -> tuple[str, Any]:
    """The name of the x column (``step``, ``epoch``… by default, else the row number) and its values."""
    import numpy as np

    name = x_name_of(table, x)
    if name is not None:
        return name, table.floats(name, "-x" if x else None)
    return "row", np.arange(len(table), dtype=float)


def prefetch_curves(table: Table, x: str | None = None, y: Sequence[str] = ()) -> None:
    """Read the columns :func:`x_values` and :func:`y_columns` will ask for in one pass of a large file."""
    x_name = x_name_of(table, x)
    wanted = list(y) or [name for name in table.numeric_candidates() if name != "timestamp"]
    table.prefetch(floats=[x_name, *wanted] if x_name else wanted)


def y_columns(table: Table, x_name: str, y: Sequence[str] = ()) -> dict[str, Any]:
    """The y columns named in ``y``, or every numeric column but x and dvclive's ``timestamp``, as float arrays."""
    if y:
        return {name: table.floats(name, "-y") for name in y}
    found = {}
    for name in table.numeric_candidates():
        if name in (x_name, "timestamp"):
            continue
        try:
            found[name] = table.floats(name)
        except InputError:
            continue
    if not found:
        raise InputError(table.path, "has no numeric column to plot; name one with -y")
    return found


@dataclass
class Curves:
    """Series read from files, ready for :func:`line_plot`."""

    series: list[Series]
    names: list[str]
    x_name: str
    missing_at_revision: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> list[str]:
        """The distinct metric (y column) names drawn, in order."""
        return metric_names(self.series)

    @property
    def title(self) -> str:
        """The title the content gives: see :func:`curves_title`."""
        return curves_title(self.metrics, self.names)

    @property
    def y_label(self) -> str:
        """The y label the content gives: see :func:`metrics_label`."""
        return metrics_label(self.metrics)

    @property
    def integer_x(self) -> bool | None:
        """``True`` when the x column is a counter (``step``, ``epoch``…); else ``None``, to decide by the values."""
        return True if self.x_name.lower() in INTEGER_X else None


def curves_from_files(files: Sequence[str], x: str | None = None, y: Sequence[str] = (),
                      revision: Revision | None = None) -> Curves:
    """Series for each ``y`` column (default: every numeric one) of each file, plus the same files at ``revision``
    as dashed lines of the same colour."""
    names = series_names(files)
    base_files = revision.read_files(files, MAX_TABLE_BYTES, TABLE_FILES) if revision else {}
    series: list[Series] = []
    missing = []
    x_name = "step"
    for path, name in zip(files, names):
        head = load_table(path)
        base, base_name = None, ""
        if revision:
            base_name = revision.name
            data = base_files[os.fspath(path)]
            if data is None:
                missing.append(path)
            else:
                base = load_table(path, data, label=f"{path} (at {base_name})")
        prefetch_curves(head, x, y)
        if base is not None:
            prefetch_curves(base, x, y)
        x_name, head_x = x_values(head, x)
        base_x = None
        columns = y_columns(head, x_name, y)
        for column, values in columns.items():
            label = column if len(files) == 1 else name if len(columns) == 1 else f"{name}: {column}"
            series.append(Series(label, head_x, values, color_key=label, metric=column))
            if base is not None and column in base.data:
                if base_x is None:
                    base_x = x_values(base, x)[1]
                series.append(Series(f"{label} ({base_name})", base_x, base.floats(column, "-y"),
                                     dashed=True, color_key=label, metric=column))
    return Curves(series, names, x_name, missing)


#: Without ``y``, a run with more histories than this asks which to draw (each may be a request).
MAX_DEFAULT_HISTORIES = 20


def pick_histories(run: TrackedRun, y: Sequence[str]) -> list[str]:
    """The history names of ``run`` that ``y`` (names or globs, matched like metric patterns) select."""
    if not y:
        if len(run.history_names) > MAX_DEFAULT_HISTORIES:
            raise UsageError(f"{run.label} has {len(run.history_names)} metric histories; name the ones to plot "
                             f"(for example loss,val_loss)", parameter="y")
        if not run.history_names:
            raise UsageError(f"{run.label} has no metric histories to plot")
        return list(run.history_names)
    chosen: list[str] = []
    for pattern in y:
        matches = [n for n in run.history_names if n == pattern or pattern_matches(pattern, run.label, n)]
        if not matches:
            known = listed(run.history_names)
            raise UsageError(f"{run.label} has no metric history '{pattern}'; it has: {known or 'none'}", parameter="y")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def curves_from_runs(head: TrackedRun, y: Sequence[str] = (), base: TrackedRun | None = None,
                     base_name: str = "base") -> Curves:
    """Series for the metric histories of a tracked run that ``y`` picks (default: all), plus ``base``'s as
    dashed lines."""
    import numpy as np

    series: list[Series] = []
    for name in pick_histories(head, y):
        history = head.history(name)
        series.append(Series(name, np.asarray(history.steps, dtype=float), np.asarray(history.values, dtype=float),
                             color_key=name, metric=name))
        if base is not None and name in base.history_names:
            old = base.history(name)
            series.append(Series(f"{name} ({base_name})", np.asarray(old.steps, dtype=float),
                                 np.asarray(old.values, dtype=float), dashed=True, color_key=name, metric=name))
    return Curves(series, [head.label], "step")
