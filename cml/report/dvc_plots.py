"""Read DVC's plot definitions (``plots:`` in ``dvc.yaml``) and their data, the way DVC 3 does.

A definition is a path (a data file, an image, or a folder whose every file is a plot) or
``{id: {x, y, template, title, x_label, y_label}}`` where ``y`` may map several files to their
columns. Stage outputs (``stages.<name>.plots``) are plots too, relative to the stage's ``wdir``.
The same code reads the working tree and a git revision, so a plot and its base come from one reader.

Every path must stay inside the repository and outside ``.git``; every file is size-bounded
before it is read (:mod:`cml.report.data`).
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args
from collections.abc import Iterator, Mapping, Sequence

from cml.errors import InputError, UsageError
from cml.fileio import decode_text, project_refusal, read_bytes
from cml.git import Revision, git_text
from cml.report.data import (
    MAX_TABLE_BYTES,
    MAX_TABLE_VALUES,
    TABLE_FILES,
    Table,
    check_size,
    check_tree,
    listed,
    parse_json,
    parse_table,
    parse_yaml,
    suffix_of,
    table_from_records,
)
from cml.report.dvc import DVC_YAML

#: DVC's built-in templates (``dvc plots templates``); any other name falls back to ``linear`` with a warning.
Template = Literal["linear", "simple", "scatter", "scatter_jitter", "smooth", "confusion", "confusion_normalized",
                   "bar_horizontal", "bar_horizontal_sorted"]
TEMPLATES: tuple[Template, ...] = get_args(Template)
DEFAULT_TEMPLATE: Template = "linear"
#: The x field DVC uses when a plot names none: the row number.
INDEX_FIELD = "step"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".gif", ".png", ".svg")
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")
#: Largest image plot read from git for the base side.
MAX_IMAGE_BYTES = 32 * 1024 * 1024
#: Most plots read from one dvc.yaml (a folder of 10,000 files would otherwise make 10,000 images).
MAX_DVC_PLOTS = 200


@dataclass(frozen=True)
class PlotSource:
    """One line of a plot: column ``y_field`` of ``y_file`` (``None``: DVC's default, the last column) against
    ``x_field`` of ``x_file`` (``None``: the same file); no ``x_field`` means the row number."""

    y_file: str
    y_field: str | None = None
    x_field: str | None = None
    x_file: str | None = None


@dataclass(frozen=True)
class PlotDefinition:
    """One plot as ``dvc plots show`` lists it: its id, template, lines and labels.

    ``template`` is the name as written; :attr:`kind` is the template drawn (an unknown one draws as ``linear``).
    """

    id: str
    sources: tuple[PlotSource, ...]
    template: str = DEFAULT_TEMPLATE
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    header: bool = True
    origin: str = DVC_YAML

    @property
    def kind(self) -> Template:
        return next((name for name in TEMPLATES if name == self.template), DEFAULT_TEMPLATE)

    @property
    def is_image(self) -> bool:
        return len(self.sources) == 1 and suffix_of(self.sources[0].y_file) in IMAGE_SUFFIXES

    @property
    def files(self) -> list[str]:
        """Every file the plot reads, in order."""
        paths = [path for source in self.sources for path in (source.y_file, source.x_file) if path]
        return list(dict.fromkeys(paths))


@dataclass
class PlotDefinitions:
    """The plots of one ``dvc.yaml`` (folders expanded), and what was skipped, as warnings."""

    plots: list[PlotDefinition] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def get(self, plot_id: str) -> PlotDefinition | None:
        return next((plot for plot in self.plots if plot.id == plot_id), None)


@dataclass
class PlotSeries:
    """One line's data: raw ``x`` and ``y`` values (text from CSV, numbers from JSON), as DVC reads them."""

    file: str
    y_field: str
    x_field: str
    x: list
    y: list
    name: str = ""


@dataclass
class PlotData:
    """A definition with its data read: every line, and the axis labels DVC would show."""

    definition: PlotDefinition
    series: list[PlotSeries]
    x_label: str
    y_label: str


class PlotFiles:
    """The files of the working tree, or of a git ``revision``, inside the repository at ``root``.

    ``cwd`` is the folder of ``dvc.yaml``; paths are relative to it, in POSIX form.
    """

    def __init__(self, cwd: str, root: str, revision: Revision | None = None):
        self.cwd = cwd
        self.root = root
        self.revision = revision

    @classmethod
    def at(cls, cwd: str | os.PathLike | None = None, revision: Revision | None = None) -> PlotFiles:
        """The files under ``cwd`` (default: the current folder), in the working tree or at ``revision``."""
        folder = os.path.realpath(os.fspath(cwd or os.getcwd()))
        if revision is not None:
            return cls(folder, revision.toplevel, revision)
        toplevel = git_text(["rev-parse", "--show-toplevel"], folder, probe=True)
        return cls(folder, os.path.realpath(toplevel) if toplevel else folder)

    @property
    def name(self) -> str:
        return self.revision.name if self.revision else "workspace"

    def label(self, path: str) -> str:
        """``path`` as errors name it: ``path (at REV)`` for a revision's file."""
        return f"{path} (at {self.revision.name})" if self.revision else path

    def refusal(self, path: str) -> str | None:
        """Why ``path`` may not be read (absolute, in ``.git``, or outside the repository: in the working tree,
        once its links are followed), or ``None``; the reason ends with what to do."""
        return project_refusal(path, "the repository", self.root, self.cwd, resolve=self.revision is None)

    def folder_files(self, path: str) -> list[str] | None:
        """The files under ``path`` (sorted) if it is a folder, else ``None``."""
        folder = os.path.join(self.cwd, path)
        if self.revision is not None:
            listing = [posixpath.normpath(os.path.relpath(name, self.cwd).replace(os.sep, "/"))
                       for name in self.revision.list_files(folder)]
            if not listing or listing == [posixpath.normpath(path)]:
                return None
            return sorted(listing)
        if not os.path.isdir(folder):
            return None
        found: list[str] = []
        for parent, folders, files in os.walk(folder):
            folders.sort()
            found.extend(posixpath.normpath(posixpath.join(path, os.path.relpath(os.path.join(parent, name),
                                                                                  folder).replace(os.sep, "/")))
                         for name in files)
        return sorted(found)

    def read(self, paths: Sequence[str], limit: int = MAX_TABLE_BYTES) -> dict[str, bytes | None]:
        """The bytes of each path (``None`` when it is not there); one over ``limit`` is refused."""
        if self.revision is not None:
            contents = self.revision.read_files((os.path.join(self.cwd, path) for path in paths), limit, TABLE_FILES)
            result = {path: contents[os.path.join(self.cwd, path)] for path in paths}
            for path, data in result.items():
                if data is not None:
                    check_size(data, self.label(path), limit, TABLE_FILES)
            return result
        found: dict[str, bytes | None] = {}
        for path in paths:
            full = os.path.join(self.cwd, path)
            found[path] = read_bytes(os.path.relpath(full), limit, TABLE_FILES) if os.path.isfile(full) else None
        return found


def _where(text: str, plot_id: str) -> int | None:
    """The line of ``dvc.yaml`` that first names ``plot_id`` (for errors), if any."""
    for number, line in enumerate(text.splitlines(), start=1):
        if plot_id in line:
            return number
    return None


class _Reader:
    """Turns the raw ``plots:`` entries of one dvc.yaml into :class:`PlotDefinition` s."""

    def __init__(self, files: PlotFiles, text: str, config: str):
        self.files = files
        self.text = text
        self.config = config
        self.result = PlotDefinitions()

    def error(self, plot_id: str, message: str) -> InputError:
        return InputError(self.files.label(self.config), f"plot '{plot_id}': {message}", line=_where(self.text, plot_id))

    def path(self, plot_id: str, *parts: str) -> str:
        """Join ``parts`` into a path relative to the dvc.yaml folder, refusing one outside the repository."""
        joined = posixpath.normpath(posixpath.join(*parts))
        refusal = self.files.refusal(joined)
        if refusal:
            raise self.error(plot_id, f"'{joined}' {refusal}")
        return joined

    def props(self, plot_id: str, props: Any) -> dict:
        if props is None or props is True:
            return {}
        if not isinstance(props, dict):
            raise self.error(plot_id, f"its options must be a mapping (x, y, template, title…), not "
                                      f"{type(props).__name__}")
        for key in ("template", "title", "x_label", "y_label"):
            if key in props and not isinstance(props[key], str):
                raise self.error(plot_id, f"'{key}' must be text")
        return props

    def field_pairs(self, plot_id: str, axis: str, value: Any, base: str) -> list[tuple[str, str]]:
        """``(file, field)`` pairs of an ``x`` or ``y`` mapping ``{file: field or [fields]}``, in order."""
        pairs = []
        for file, fields in value.items():
            path = self.path(plot_id, base, str(file))
            if isinstance(fields, str):
                pairs.append((path, fields))
            elif isinstance(fields, list) and fields and all(isinstance(item, str) for item in fields):
                pairs.extend((path, item) for item in fields)
            else:
                raise self.error(plot_id, f"'{axis}' for {file} must be a column name or a list of them")
        return pairs

    def sources(self, plot_id: str, props: dict, data_path: str | None, base: str) -> tuple[PlotSource, ...]:
        """DVC's inference (``dvc.render.converter.vega``): ``y`` defaults to the plot's own file, ``x`` to the
        row number, and a single ``x`` file serves every ``y``."""
        x, y = props.get("x"), props.get("y")
        ys: list[tuple[str, str | None]]
        if isinstance(y, dict):
            ys = list(self.field_pairs(plot_id, "y", y, base))
        elif data_path is None:
            raise self.error(plot_id, "a plot whose id is not a file must map 'y' to files: y: {file.csv: column}")
        elif y is None:
            ys = [(data_path, None)]
        elif isinstance(y, str):
            ys = [(data_path, y)]
        elif isinstance(y, list) and y and all(isinstance(item, str) for item in y):
            ys = [(data_path, item) for item in y]
        else:
            raise self.error(plot_id, "'y' must be a column, a list of columns or {file: column(s)}")
        if not ys:
            raise self.error(plot_id, "'y' names no file; give y: {file.csv: column}")
        if x is None:
            return tuple(PlotSource(file, column) for file, column in ys)
        if isinstance(x, str):
            return tuple(PlotSource(file, column, x) for file, column in ys)
        if not isinstance(x, dict):
            raise self.error(plot_id, "'x' must be a column or {file: column}")
        xs = self.field_pairs(plot_id, "x", x, base)
        if len(xs) == 1:
            return tuple(PlotSource(file, column, xs[0][1], xs[0][0]) for file, column in ys)
        if len(xs) != len(ys):
            raise self.error(plot_id, f"'x' names {len(xs)} columns and 'y' {len(ys)}; give one x, or one per y")
        return tuple(PlotSource(file, column, x_column, x_file) for (file, column), (x_file, x_column) in zip(ys, xs))

    def add(self, plot_id: str, props: dict, data_path: str | None, base: str, origin: str) -> None:
        template = props.get("template") or DEFAULT_TEMPLATE
        header = props.get("header", True)
        definition = PlotDefinition(
            id=plot_id, sources=self.sources(plot_id, props, data_path, base), template=template,
            title=props.get("title"), x_label=props.get("x_label"), y_label=props.get("y_label"),
            header=header is not False, origin=origin,
        )
        existing = self.result.get(plot_id)
        if existing is not None:  # a stage output also listed at the top: DVC merges the two
            index = self.result.plots.index(existing)
            self.result.plots[index] = replace(
                existing, title=existing.title or definition.title, x_label=existing.x_label or definition.x_label,
                y_label=existing.y_label or definition.y_label)
            return
        if template not in TEMPLATES:
            self.result.warnings.append(f"{self.config}: plot '{plot_id}' uses template '{template}', which cml does "
                                        f"not draw; drawn as linear (cml draws: {', '.join(TEMPLATES)})")
        self.result.plots.append(definition)

    def add_path(self, entry: str, props: dict, base: str, origin: str, parents: Sequence[str] = ()) -> None:
        """A path plot: a file, or a folder whose files become one plot each (a file also under a more specific
        top-level definition is left to that one, as DVC does)."""
        data_path = self.path(entry, base, entry)
        files = self.files.folder_files(data_path)
        if files is None:
            self.add(data_path, props, data_path, base, origin)
            return
        for file in files:
            if parents and _closest_parent(file, parents) != data_path:
                continue
            checked = self.path(file, file)  # a link in the folder may lead out of it
            self.add(checked, props, checked, base, origin)

    def entries(self, value: Any, where: str, key: str, line: int | None) -> list[tuple[str, Any]]:
        """The ``(path or id, options)`` of a ``plots:`` list, whose items are ``path`` or ``{key: options}``;
        ``where`` (``stage 'train': ``) starts its errors."""
        if not isinstance(value, list) and value:
            raise InputError(self.files.label(self.config), f"{where}'plots' must be a list of paths or "
                             f"{{{key}: options}}", line=line)
        named: list[tuple[str, Any]] = []
        for entry in value or []:
            if isinstance(entry, str):
                named.append((entry, None))
            elif isinstance(entry, dict) and entry:
                named.extend((str(name), options) for name, options in entry.items())
            else:
                raise InputError(self.files.label(self.config), f"{where}each plot must be a path or "
                                 f"{{{key}: options}}, not {str(entry)[:60]!r}", line=line)
        return named

    def read(self, document: Any) -> PlotDefinitions:
        if not isinstance(document, dict):
            raise InputError(self.files.label(self.config), "must hold a mapping (stages:, plots:, metrics:…)")
        named = self.entries(document.get("plots"), "", "id", _where(self.text, "plots:"))
        base = "."
        parents = [posixpath.normpath(plot_id) for plot_id, _ in named]
        for plot_id, props in named:
            if "${" in plot_id:
                self.result.warnings.append(f"{self.config}: plot '{plot_id}' uses templating (${{…}}); skipped")
                continue
            options = self.props(plot_id, props)
            if isinstance(options.get("y"), dict):
                self.add(plot_id, options, None, base, self.config)
            else:
                self.add_path(plot_id, options, base, self.config, parents)
        stages = document.get("stages") or {}
        if isinstance(stages, dict):
            for name, stage in stages.items():
                self.read_stage(str(name), stage)
        return self.result

    def read_stage(self, name: str, stage: Any) -> None:
        if not isinstance(stage, dict):
            return
        body: dict = stage["do"] if isinstance(stage.get("do"), dict) else stage
        wdir = str(body.get("wdir") or ".")
        origin = f"{self.config} stage '{name}'"
        outputs = self.entries(body.get("plots"), f"stage '{name}': ", "path", _where(self.text, name))
        for path, props in outputs:
            if "${" in path or "${" in wdir:
                self.result.warnings.append(f"{origin}: plot '{path}' uses templating (${{…}}); skipped")
                continue
            options = {key: value for key, value in self.props(path, props).items()
                       if key in ("x", "y", "template", "title", "x_label", "y_label", "header")}
            if isinstance(options.get("y"), dict):  # a stage output plots its own file only
                raise self.error(path, "a stage output's 'y' must be a column or a list of columns of that file")
            self.add_path(posixpath.join(wdir, path), options, ".", origin)


def _closest_parent(path: str, parents: Sequence[str]) -> str:
    """DVC's ``_closest_parent``: the parent sharing the longest common path with ``path``."""
    best = ""
    for parent in parents:
        common = posixpath.commonpath([path, parent]) if path and parent else ""
        if len(common) > len(best):
            best = common
    return best


def read_definitions(files: PlotFiles, config: str = DVC_YAML) -> PlotDefinitions | None:
    """The plots ``config`` (a dvc.yaml, relative to ``files.cwd``) defines, or ``None`` when it is not there."""
    data = files.read([config], MAX_TABLE_BYTES)[config]
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    document = parse_yaml(text, files.label(config)) or {}
    definitions = _Reader(files, text, config).read(document)
    if len(definitions.plots) > MAX_DVC_PLOTS:
        definitions.warnings.append(f"{config} defines {len(definitions.plots)} plots; only the first "
                                    f"{MAX_DVC_PLOTS} are drawn (pick some with targets)")
        del definitions.plots[MAX_DVC_PLOTS:]
    return definitions


def select(definitions: PlotDefinitions, targets: Sequence[str]) -> list[PlotDefinition]:
    """The plots ``targets`` name: by id, else every plot reading that file or a file in that folder.

    A target no plot matches is an error that lists the ids there are.
    """
    if not targets:
        return list(definitions.plots)
    chosen: list[PlotDefinition] = []
    for target in targets:
        normal = posixpath.normpath(target.replace(os.sep, "/")).rstrip("/")
        matches = [plot for plot in definitions.plots if plot.id in (target, normal)] or [
            plot for plot in definitions.plots
            if normal in plot.files or any(path.startswith(normal + "/") for path in [plot.id, *plot.files])]
        if not matches:
            known = listed((plot.id for plot in definitions.plots), quote=True)
            raise UsageError(f"no plot in dvc.yaml is '{target}'; its plots are: {known or 'none'}",
                             parameter="targets")
        chosen.extend(plot for plot in matches if plot not in chosen)
    return chosen


# -- data ----------------------------------------------------------------------------------------------------------


def _record_lists(blob: Any) -> Iterator[list]:
    """Every list in ``blob`` (itself, or nested in mappings, depth first), as DVC's ``_lists`` finds them; walked
    without recursion, in time linear in the document."""
    if isinstance(blob, list):
        yield blob
        return
    stack = [iter(blob.values())] if isinstance(blob, dict) else []
    while stack:
        for value in stack[-1]:
            if isinstance(value, dict):
                stack.append(iter(value.values()))
                break
            if isinstance(value, list):
                yield value
        else:
            stack.pop()


def _datapoints(document: Any) -> list[dict]:
    """DVC's ``get_datapoints``: the lists of records with the same keys, merged record by record."""
    result: list[dict] = []
    for items in _record_lists(document):
        if not items or not all(isinstance(item, dict) for item in items):
            continue
        keys = set(items[0])
        if any(set(item) != keys for item in items):
            continue
        for index, record in enumerate(items):
            if len(result) <= index:
                result.append({})
            result[index].update(record)
    return result


def _headerless(text: str, delimiter: str) -> str:
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return delimiter.join(str(position) for position in range(len(first))) + "\n" + text


def load_plot_table(data: bytes, path: str, label: str | None = None, header: bool = True) -> Table:
    """A plot file's rows as DVC reads them: CSV/TSV with a header (``header: false``: columns ``0``, ``1``…),
    or the records of JSON/YAML (lists of records anywhere in the document, merged record by record)."""
    label = label or path
    check_size(data, label, MAX_TABLE_BYTES, TABLE_FILES)
    suffix = suffix_of(path)
    if suffix in (".csv", ".tsv"):
        if not header:
            text = decode_text(data, label)
            data = _headerless(text, "\t" if suffix == ".tsv" else ",").encode()
        return parse_table(data, path, label)
    text = decode_text(data, label)
    if suffix == ".json":
        document = parse_json(text, label)
        check_tree(document, label, MAX_TABLE_VALUES)
    else:
        document = parse_yaml(text, label, MAX_TABLE_VALUES)
    records = _datapoints(document)
    if not records or not any(records):
        raise InputError(label, "holds no list of records for a plot; write [{\"step\": 0, \"loss\": 0.5}, …]")
    return table_from_records(records, label)


def read_tables(files: PlotFiles, definitions: Sequence[PlotDefinition], strict: bool = True
                ) -> tuple[dict[str, Table], dict[str, str]]:
    """The data files of ``definitions`` read in one pass (one git process at a revision): tables by path, and
    why each other file was not read (missing, or not a data file DVC plots; unless ``strict``, also a file
    that does not parse, which is an :class:`InputError` otherwise)."""
    wanted: dict[str, bool] = {}
    for definition in definitions:
        if definition.is_image:
            continue
        for path in definition.files:
            wanted.setdefault(path, definition.header)
    problems: dict[str, str] = {}
    readable = []
    for path in wanted:
        if suffix_of(path) in DATA_SUFFIXES:
            readable.append(path)
        elif suffix_of(path):
            problems[path] = f"is not a file DVC plots (CSV, TSV, JSON, YAML or an image: {', '.join(IMAGE_SUFFIXES)})"
        else:
            problems[path] = ("is not a file DVC plots; a plot named rather than a file maps y to its files: "
                              f"{{{path}: {{y: {{file.csv: column}}}}}}")
    contents = files.read(readable)
    tables = {}
    for path in readable:
        data = contents[path]
        if data is None:
            problems[path] = "is not in the working tree" if files.revision is None else f"is not at {files.name}"
            continue
        try:
            tables[path] = load_plot_table(data, path, files.label(path), wanted[path])
        except InputError as error:
            if strict:
                raise
            problems[path] = f"could not be read ({error})"
    return tables, problems


def _short_names(paths: Sequence[str]) -> dict[str, str]:
    """Legend names of files, as DVC makes them: the common folder dropped when there are several files (and,
    here, the extension)."""
    unique = list(dict.fromkeys(paths))
    if len(unique) < 2:
        return {path: path for path in unique}
    prefix = len(posixpath.commonpath(unique))
    return {path: posixpath.splitext(path[prefix:].strip("/") or path)[0] for path in unique}


def resolve(definition: PlotDefinition, tables: Mapping[str, Table], label: str = DVC_YAML) -> PlotData:
    """The lines of ``definition`` from ``tables`` (every file read), with DVC's inferred fields and labels.

    A column a file lacks, or an x column of another length than its y, is an :class:`InputError`.
    """
    option = f"plot '{definition.id}' in {label}"
    short = _short_names([source.y_file for source in definition.sources])
    series = []
    for source in definition.sources:
        table = tables[source.y_file]
        y_field = source.y_field or table.columns[-1]
        y_values = table.column(y_field, option)
        if source.x_field is None:
            x_field, x_values = INDEX_FIELD, list(range(len(y_values)))
        else:
            x_table = tables[source.x_file or source.y_file]
            x_field, x_values = source.x_field, x_table.column(source.x_field, option)
            if len(x_values) != len(y_values):
                raise InputError(label, f"plot '{definition.id}': x '{x_field}' of {x_table.path} has "
                                        f"{len(x_values)} rows and y '{y_field}' of {table.path} {len(y_values)}; "
                                        "they must be equally long")
        series.append(PlotSeries(source.y_file, y_field, x_field, list(x_values), list(y_values),
                                 short[source.y_file]))
    fields = list(dict.fromkeys(item.y_field for item in series))
    x_fields = list(dict.fromkeys(item.x_field for item in series))
    y_label = definition.y_label if definition.y_label is not None else fields[0] if len(fields) == 1 else ""
    x_label = definition.x_label if definition.x_label is not None else x_fields[0] if len(x_fields) == 1 else "x"
    files = {item.file for item in series}
    for item in series:
        item.name = (f"{item.name}: {item.y_field}" if len(files) > 1 and len(fields) > 1
                     else item.name if len(files) > 1 else item.y_field)
    return PlotData(definition, series, x_label, y_label)
