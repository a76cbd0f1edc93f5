"""DVC's plot definitions drawn as PNG images, the base revision overlaid: the images DVC itself only renders
as Vega/HTML.

``linear``/``simple`` draw lines (the base dashed in the same colour), ``smooth`` the raw lines lightly under a
rolling mean, ``scatter`` markers (the base hollow), ``confusion``/``confusion_normalized`` a confusion matrix
(with the base, its change view), ``bar_horizontal(_sorted)`` bars (the base as outlines). Image plots are
linked as they are, and the base's version is written beside them when it differs.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

from cml.errors import InputError, UsageError
from cml.fileio import FilePath, write_atomic
from cml.git import Revision
from cml.report.dvc import DVC_YAML
from cml.report.dvc_plots import (
    DATA_SUFFIXES,
    IMAGE_SUFFIXES,
    MAX_IMAGE_BYTES,
    PlotData,
    PlotDefinition,
    PlotFiles,
    PlotSeries,
    read_definitions,
    read_tables,
    resolve,
    select,
)
from cml.report.plots.common import (
    MAX_DRAWN_POINTS,
    MAX_TICK_TEXT,
    ImageNames,
    Plot,
    Series,
    downsample,
    legend_if_useful,
    literal,
    new_figure,
    save_figure,
)
from cml.report.plots.confusion import Normalization, confusion_matrix
from cml.report.plots.line import line_plot, metrics_label

#: Most bars a bar plot draws (the largest values); the title says how many there were.
MAX_BARS = 40
#: Most points a scatter plot draws per series (evenly thinned).
MAX_SCATTER_POINTS = 20_000
#: The rolling mean of ``smooth`` spans this fraction of the points (at least 3).
SMOOTHING_FRACTION = 0.05
#: dvclive's folders say nothing a title needs.
_DVCLIVE_FOLDERS = re.compile(r"^(?:.*/)?plots/(?:metrics|sklearn|custom|images)/")
EXAMPLE = "plots: [{dvclive/plots/metrics: {x: step}}, {eval/confusion.json: {template: confusion, x: actual, " \
          "y: predicted}}]"


@dataclass
class DvcPlots:
    """The images drawn for a dvc.yaml's plots, and what could not be drawn or compared, as warnings."""

    plots: list[Plot] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def markdown_in(self, report: str | os.PathLike | None = None) -> str:
        """One ``![title](path)`` line per image, paths relative to the folder of ``report``."""
        return "\n".join(plot.markdown_in(report) for plot in self.plots)


def plot_title(definition: PlotDefinition) -> str:
    """The definition's title, else its id: a named plot's name, or a file's path without dvclive's folders and
    the extension (``dvclive/plots/metrics/train/loss.tsv`` → ``train/loss``)."""
    if definition.title:
        return definition.title
    if definition.sources and definition.sources[0].y_file == definition.id:
        return _DVCLIVE_FOLDERS.sub("", posixpath.splitext(definition.id)[0]) or definition.id
    return definition.id


def _stem(plot_id: str) -> str:
    """What an image is named after: the plot's id, without the extension of a file (``eval/roc.json`` →
    ``eval/roc``; ``v1.2 run`` stays)."""
    stem, extension = posixpath.splitext(plot_id)
    return stem if extension.lower() in (*DATA_SUFFIXES, *IMAGE_SUFFIXES) else plot_id


def _numbers(values: Sequence, path: str, column: str) -> Any:
    """``values`` as a float array (empty cells NaN); text is an error naming the file, column and row."""
    import numpy as np

    cleaned = [float("nan") if value is None or value == "" else value for value in values]
    try:
        return np.asarray(cleaned, dtype=float)
    except (TypeError, ValueError):
        for index, value in enumerate(cleaned):
            try:
                float(value)
            except (TypeError, ValueError):
                raise InputError(path, f"column '{column}' has a non-numeric value {value!r} in row {index + 1}; "
                                       "DVC's line, scatter and bar templates need numbers") from None
        raise


def _labels(values: Sequence) -> list[str]:
    """Class labels as text (``1.0`` written as ``1``, booleans as ``true``/``false``)."""
    texts = []
    for value in values:
        if isinstance(value, bool):
            texts.append(str(value).lower())
        elif isinstance(value, float) and value.is_integer():
            texts.append(str(int(value)))
        else:
            texts.append(str(value))
    return texts


def _matching(series: PlotSeries, base: PlotData | None) -> PlotSeries | None:
    """The base's line for the same file and column, if it has one."""
    if base is None:
        return None
    return next((old for old in base.series if (old.file, old.y_field) == (series.file, series.y_field)), None)


def _integer_ticks(axes: Any, x_field: str, *columns: Any) -> None:
    """Whole-number ticks on an x axis of steps or epochs (or any all-integer x)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    if x_field in ("step", "epoch", "iteration") or all(
            len(column) and np.all(np.isnan(column) | (np.mod(column, 1) == 0)) for column in columns):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _line(data: PlotData, base: PlotData | None, rev: str, output: str, title: str) -> Plot:
    series: list[Series] = []
    for item in data.series:
        series.append(Series(item.name, _numbers(item.x, item.file, item.x_field),
                             _numbers(item.y, item.file, item.y_field), color_key=item.name, metric=item.y_field))
        old = _matching(item, base)
        if old is not None:
            series.append(Series(f"{item.name} ({rev})", _numbers(old.x, old.file, old.x_field),
                                 _numbers(old.y, old.file, old.y_field), dashed=True, color_key=item.name,
                                 metric=item.y_field))
    return line_plot(series, output, title, data.x_label, _y_label(data))


def _y_label(data: PlotData) -> str:
    """The definition's y label, else the column's name, else the word the columns share (``loss``)."""
    return data.y_label or metrics_label(list(dict.fromkeys(item.y_field for item in data.series)))


def _label(axes: Any, data: PlotData, title: str, grid: str = "both") -> None:
    """The axes' labels (the y label when there is one), title and grid (along ``grid``: ``both``, ``x``)."""
    axes.set_xlabel(literal(data.x_label))
    if _y_label(data):
        axes.set_ylabel(literal(_y_label(data)))
    axes.set_title(literal(title))
    axes.grid(axis=grid, alpha=0.3)


def rolling_mean(values: Any, window: int) -> Any:
    """A centred rolling mean over ``window`` points that skips NaNs and shrinks at the ends (no lag, no edge
    drop)."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    present = ~np.isnan(values)
    kernel = np.ones(window)
    sums = np.convolve(np.where(present, values, 0.0), kernel, mode="same")
    counts = np.convolve(present.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)


def smoothing_window(points: int) -> int:
    """The rolling mean's width for ``points`` points: about 5% of them, odd, at least 3 (1: no smoothing)."""
    if points < 5:
        return 1
    window = max(3, round(points * SMOOTHING_FRACTION))
    return window if window % 2 else window + 1


def _smooth(data: PlotData, base: PlotData | None, rev: str, output: str, title: str) -> Plot:
    """Raw lines drawn faintly and their rolling means strongly, as DVC's smooth template does with its slider."""
    figure = new_figure(8.0, 4.8)
    axes = figure.add_subplot()
    entries, xs = [], []
    for index, item in enumerate(data.series):
        color = f"C{index % 10}"
        sides = [(item, False)]
        old = _matching(item, base)
        if old is not None:
            sides.append((old, True))
        for side, dashed in sides:
            x = _numbers(side.x, side.file, side.x_field)
            y = _numbers(side.y, side.file, side.y_field)
            xs.append(x)
            style = "--" if dashed else "-"
            raw_x, raw_y = downsample(x, y, MAX_DRAWN_POINTS)
            axes.plot(raw_x, raw_y, color=color, linewidth=1.0, alpha=0.25, linestyle=style)
            smooth_x, smooth_y = downsample(x, rolling_mean(y, smoothing_window(len(y))), MAX_DRAWN_POINTS)
            line, = axes.plot(smooth_x, smooth_y, color=color, linewidth=2.0, linestyle=style)
            entries.append((line, f"{item.name} ({rev})" if dashed else item.name))
    _label(axes, data, title)
    _integer_ticks(axes, data.series[0].x_field if data.series else "", *xs)
    legend_if_useful(axes, entries, most=20)
    return save_figure(figure, output, title, points=sum(len(item.y) for item in data.series))


def _thin(x: Any, y: Any, most: int) -> tuple[Any, Any]:
    if len(x) <= most:
        return x, y
    step = -(-len(x) // most)
    return x[::step], y[::step]


def _scatter(data: PlotData, base: PlotData | None, rev: str, output: str, title: str) -> Plot:
    """Markers per series; the base's the same colour, hollow."""
    figure = new_figure(7.0, 5.6)
    axes = figure.add_subplot()
    entries = []
    for index, item in enumerate(data.series):
        color = f"C{index % 10}"
        old = _matching(item, base)
        if old is not None:
            x, y = _thin(_numbers(old.x, old.file, old.x_field), _numbers(old.y, old.file, old.y_field),
                         MAX_SCATTER_POINTS)
            hollow, = axes.plot(x, y, linestyle="none", marker="o", markersize=6, markerfacecolor="none",
                                markeredgecolor=color, markeredgewidth=1.2)
            entries.append((hollow, f"{item.name} ({rev})"))
        x, y = _thin(_numbers(item.x, item.file, item.x_field), _numbers(item.y, item.file, item.y_field),
                     MAX_SCATTER_POINTS)
        filled, = axes.plot(x, y, linestyle="none", marker="o", markersize=4, color=color, alpha=0.8)
        entries.insert(len(entries) - (old is not None), (filled, item.name))
    _label(axes, data, title)
    legend_if_useful(axes, entries, most=20)
    return save_figure(figure, output, title, points=sum(len(item.y) for item in data.series))


def _confusion(data: PlotData, base: PlotData | None, rev: str, output: str, title: str) -> Plot:
    """DVC's confusion templates: x holds the actual labels, y the predicted; ``confusion_normalized`` divides by
    each predicted class, as DVC's template does."""
    head = data.series[0]
    normalize: Normalization | None = "pred" if data.definition.kind == "confusion_normalized" else None
    old = _matching(head, base)
    base_labels = (_labels(old.x), _labels(old.y)) if old is not None else None
    return confusion_matrix(_labels(head.x), _labels(head.y), output, normalize=normalize, title=title,
                            base=base_labels, base_label=rev)


def _bars(data: PlotData, base: PlotData | None, rev: str, output: str, title: str) -> Plot:
    """Horizontal bars: x the values, y the names (feature importance, say); the base's as outlines."""
    import numpy as np

    sort = data.definition.kind == "bar_horizontal_sorted"
    groups = []
    for item in data.series:
        values = _numbers(item.x, item.file, item.x_field)
        names = _labels(item.y)
        old = _matching(item, base)
        old_values = {}
        if old is not None:
            old_values = dict(zip(_labels(old.y), _numbers(old.x, old.file, old.x_field).tolist()))
        groups.append((item, names, values, old_values))
    first_names, first_values = groups[0][1], groups[0][2]
    order = list(range(len(first_names)))
    if sort:
        order.sort(key=lambda index: -np.nan_to_num(first_values[index], nan=-np.inf))
    total = len(order)
    if total > MAX_BARS:
        largest = set(sorted(order, key=lambda index: -np.nan_to_num(abs(first_values[index]), nan=-1))[:MAX_BARS])
        order = [index for index in order if index in largest]
        title_shown = f"{title}\n{MAX_BARS} largest of {total:,}"
    else:
        title_shown = title
    shown = [first_names[index] for index in order]
    count = len(data.series)
    height = 0.8 / count
    figure = new_figure(8.0, min(max(2.5, 0.32 * len(shown) * max(1, count * 0.7) + 1.4), 14.0))
    axes = figure.add_subplot()
    positions = np.arange(len(shown))
    entries = []
    for group_index, (item, names, values, old_values) in enumerate(groups):
        color = f"C{group_index % 10}"
        by_name = dict(zip(names, values.tolist()))
        offsets = positions + (group_index - (count - 1) / 2) * height
        head_values = [by_name.get(name, np.nan) for name in shown]
        bars = axes.barh(offsets, head_values, height=height * 0.9, color=color, alpha=0.85)
        name = item.x_field if count == 1 else item.name  # bars measure x; y names them
        entries.append((bars, name))
        if old_values:
            outline = axes.barh(offsets, [old_values.get(name, np.nan) for name in shown], height=height * 0.9,
                                fill=False, edgecolor="black", linewidth=1.2, linestyle="--")
            entries.append((outline, f"{name} ({rev})"))
    axes.set_yticks(positions, [literal(name, MAX_TICK_TEXT) for name in shown])
    axes.invert_yaxis()  # the first (or largest) at the top
    _label(axes, data, title_shown, grid="x")
    if len(entries) > 1:
        legend_if_useful(axes, entries, most=20)
    return save_figure(figure, output, title, bars=len(shown), total=total)


_DRAW = {"linear": _line, "simple": _line, "smooth": _smooth, "scatter": _scatter, "scatter_jitter": _scatter,
         "confusion": _confusion, "confusion_normalized": _confusion, "bar_horizontal": _bars,
         "bar_horizontal_sorted": _bars}


def _image(definition: PlotDefinition, head: PlotFiles, base_files: PlotFiles | None, names: ImageNames,
           result: DvcPlots) -> None:
    """An image plot: linked where it is; the base's version written beside the others when it differs."""
    path = definition.sources[0].y_file
    full = os.path.join(head.cwd, path)
    title = plot_title(definition)
    if not os.path.isfile(full):
        result.warnings.append(f"{DVC_YAML}: plot '{definition.id}': {path} is not in the working tree; skipped")
        return
    result.plots.append(Plot(path=os.path.relpath(full), title=title, details={"id": definition.id, "template": "image",
                                                              "base": False}))
    if base_files is None or base_files.revision is None:
        return
    try:
        data = base_files.read([path], MAX_IMAGE_BYTES)[path]
    except InputError as error:  # the base's image is only a comparison: the head's is still shown
        result.warnings.append(f"{error}; plot '{definition.id}' is shown without the base")
        return
    if data is None:
        result.warnings.append(f"{path} is not at {base_files.name}; plot '{definition.id}' is drawn without the base")
        return
    with open(full, "rb") as handle:
        if handle.read(MAX_IMAGE_BYTES + 1) == data:
            return
    output = names(f"{_stem(definition.id)}_{base_files.name}", posixpath.splitext(path)[1].lower())
    write_atomic(output, data)
    result.plots[-1].details["base"] = True
    result.plots.append(Plot(path=output, title=f"{title} ({base_files.name})",
                             details={"id": definition.id, "template": "image", "base": True}))


def _base_data(definitions: Sequence[PlotDefinition], files: PlotFiles | None, result: DvcPlots
               ) -> dict[str, PlotData]:
    """The base revision's data for each plot id it also defines; what is missing there becomes a warning."""
    if files is None:
        return {}
    wanted = [definition for definition in definitions if not definition.is_image]
    try:
        found = read_definitions(files)
    except InputError as error:
        result.warnings.append(f"no comparison with {files.name}: {error}")
        return {}
    if found is None:
        if wanted:
            result.warnings.append(f"{DVC_YAML} is not at {files.name}; plots are drawn without the base")
        return {}
    at_base = [found.get(definition.id) for definition in wanted]
    present = [definition for definition in at_base if definition is not None]
    tables, problems = read_tables(files, present, strict=False)
    data = {}
    for head, old in zip(wanted, at_base):
        if old is None:
            result.warnings.append(f"plot '{head.id}' is not in {DVC_YAML} at {files.name}; drawn without the base")
            continue
        missing = [path for path in old.files if path in problems]
        if missing:
            result.warnings.append(f"{missing[0]} {problems[missing[0]]}; plot '{head.id}' is drawn without the base")
            continue
        try:
            data[head.id] = resolve(old, tables, files.label(DVC_YAML))
        except InputError as error:
            result.warnings.append(f"plot '{head.id}' is drawn without the base: {error}")
    return data


def render_dvc_plots(output_dir: FilePath, *, revision: Revision | None = None, targets: Sequence[str] = (),
                     cwd: FilePath | None = None, strict: bool = True) -> DvcPlots:
    """Draw every plot ``dvc.yaml`` (in ``cwd``, default the current folder) defines into ``output_dir``, one PNG
    each, with the same plots at git ``revision`` overlaid; ``targets`` (plot ids, files or folders) picks some.

    A plot whose file is missing is skipped with a warning; one missing at ``revision`` is drawn without the base,
    with a warning. A broken definition or file is an :class:`InputError` naming dvc.yaml and the plot; unless
    ``strict``, a plot whose file cannot be read or lacks its columns is skipped with a warning instead.
    """
    head = PlotFiles.at(cwd)
    definitions = read_definitions(head)
    if definitions is None:
        raise UsageError(f"there is no {DVC_YAML} in {head.cwd}; add one that lists your plots, for example: "
                         f"{EXAMPLE}")
    if not definitions.plots:
        raise UsageError(f"{DVC_YAML} defines no plots; add a plots: list, for example: {EXAMPLE}")
    result = DvcPlots(warnings=list(definitions.warnings))
    selected = select(definitions, targets)
    tables, problems = read_tables(head, selected, strict)
    chosen = []
    for definition in selected:
        missing = [path for path in definition.files if path in problems]
        if missing:
            result.warnings.append(f"{DVC_YAML}: plot '{definition.id}': {missing[0]} {problems[missing[0]]}; skipped")
        else:
            chosen.append(definition)
    base_files = PlotFiles.at(cwd, revision) if revision is not None else None
    base = _base_data(chosen, base_files, result)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    names = ImageNames(output_dir)
    rev = revision.name if revision is not None else "base"
    for definition in chosen:
        if definition.is_image:
            _image(definition, head, base_files, names, result)
            continue
        try:
            data = resolve(definition, tables)
        except (InputError, UsageError) as error:
            if strict:
                raise
            result.warnings.append(f"{DVC_YAML}: plot '{definition.id}': {error}; skipped")
            continue
        title = plot_title(definition)
        plot = _DRAW[definition.kind](data, base.get(definition.id), rev, names(_stem(definition.id)), title)
        plot.details.update(id=definition.id, template=definition.kind, base=definition.id in base)
        result.plots.append(plot)
    if not result.plots:
        reasons = "; ".join(result.warnings[-3:])
        raise UsageError(f"none of the plots in {DVC_YAML} could be drawn: {reasons}")
    return result
