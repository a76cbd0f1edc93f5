"""The standard report (``cml report create``, :meth:`cml.Report.standard`): every block the project has inputs for.

Blocks, in their default order: ``metrics`` (the diff against the base, with the quality gates), ``params``,
``plots`` (the plots ``dvc.yaml`` defines, else dvclive's training curves), ``confusion``, ``roc`` and ``pr``
(from a predictions file, or dvclive's sklearn plots) and ``history`` (the metrics over the base branch's last
commits). A block whose inputs are missing is left out with a note saying why; nothing optional fails the report.

Settings come from ``[tool.cml.report]`` in ``pyproject.toml`` or the ``report:`` key of ``cml.yaml`` in the
project folder, or from a file given explicitly; every key is checked, and a wrong one is a one-line error naming
the file (and the line where the format tells it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, Union, cast, get_args
from collections.abc import Iterator, Mapping, Sequence

from cml import git
from cml.errors import CmlError, InputError, UsageError
from cml.fileio import project_refusal
from cml.report import dvc, gates, metrics as metrics_module
from cml.report.classification import ACTUAL_COLUMNS, folding_note
from cml.report.data import (
    MAX_DOCUMENT_BYTES,
    Table,
    base_table,
    listed,
    load_table,
    natural_sort_key,
    parse_toml,
    parse_yaml,
    READS_TOML,
    read_input,
)
from cml.report.dvc_plots import PlotFiles, read_definitions
from cml.report.history import MAX_COUNT as MAX_HISTORY_COUNT, metric_history, render_history
from cml.report.markdown import escape_inline
from cml.report.plots.common import ImageNames
from cml.report.plots.confusion import NORMALIZATIONS, Normalization, confusion_from_table
from cml.report.plots.curves import POINT_COLUMNS, SCORE_COLUMNS, SCORE_PREFIXES, CurveKind, curve_from_table
from cml.report.plots.dvc import render_dvc_plots
from cml.report.plots.line import curves_from_files, line_plot

if TYPE_CHECKING:
    from cml.report.builder import Report

#: The blocks of a standard report.
BlockName = Literal["metrics", "params", "plots", "confusion", "roc", "pr", "history"]
BLOCK_NAMES: tuple[BlockName, ...] = get_args(BlockName)
#: The options each block takes (``{name: {option: value}}`` in ``blocks``).
BLOCK_OPTIONS: dict[BlockName, tuple[str, ...]] = {
    "metrics": ("title", "all"),
    "params": ("title", "all"),
    "plots": ("title", "targets"),
    "confusion": ("title", "normalize"),
    "roc": ("title", "pos_label"),
    "pr": ("title", "pos_label"),
    "history": ("title", "count", "metrics"),
}
#: Every key of the report settings.
SETTING_KEYS = ("blocks", "title", "rev", "predictions", "fail_on", "higher_is_better", "lower_is_better", "history",
                "metrics", "params")
HEADINGS: dict[BlockName, str] = {
    "metrics": "Metrics", "params": "Params", "plots": "Plots", "confusion": "Confusion matrix", "roc": "ROC curve",
    "pr": "Precision-recall curve", "history": "Metric history",
}
DEFAULT_HISTORY = 20
PYPROJECT = "pyproject.toml"
CML_YAML = "cml.yaml"
PREDICTION_FILES = ("predictions.csv", "predictions.tsv", "predictions.json")
DVCLIVE_METRIC_PLOTS = "dvclive/plots/metrics"
#: Training curves drawn from dvclive's files at most (one image per metric); the others are named in a note.
MAX_CURVE_PLOTS = 12
_TOML_HEADER = re.compile(r'^\s*\[\s*"?tool"?\s*\.\s*"?cml"?\s*\.\s*"?report"?\s*\]\s*(#.*)?$')


@dataclass(frozen=True)
class Block:
    """One block of the report and its options (``title`` and the block's own, see :data:`BLOCK_OPTIONS`)."""

    name: BlockName
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def heading(self) -> str:
        return str(self.options.get("title") or HEADINGS[self.name])


@dataclass(frozen=True)
class ReportSettings:
    """What a standard report holds, read from the project's settings (every field has a default).

    ``source`` is the file the settings came from (``None``: the defaults); errors found later, such as a
    ``fail_on`` rule that matches no metric, name it.
    """

    blocks: tuple[Block, ...] = tuple(Block(name) for name in BLOCK_NAMES)
    title: str | None = None
    rev: str | None = None
    predictions: str | None = None
    fail_on: tuple[str, ...] = ()
    higher_is_better: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    history: int = DEFAULT_HISTORY
    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    source: str | None = None


# -- reading the settings --------------------------------------------------------------------------------------


class _Locator:
    """The line of a key in a settings file, where the format tells it."""

    def __init__(self, path: str, text: str, yaml_node: Any = None):
        self.path = path
        self.text = text
        self.node = yaml_node

    def line(self, *keys: str | int) -> int | None:
        """The line of ``keys`` (a path of mapping keys and list indexes under the report settings)."""
        if self.node is not None:
            return _yaml_line(self.node, keys)
        return _toml_line(self.text, str(keys[0])) if keys else None

    def error(self, message: str, *keys: str | int) -> InputError:
        return InputError(self.path, message, line=self.line(*keys))


def _yaml_line(node: Any, keys: Sequence[str | int]) -> int | None:
    line = node.start_mark.line + 1
    for key in keys:
        if isinstance(key, int) and hasattr(node, "value") and isinstance(node.value, list) \
                and node.tag.endswith(":seq") and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
            continue
        if node.tag.endswith(":map"):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == key), None)
            if match is not None:
                line = match[0].start_mark.line + 1
                node = match[1]
                continue
        return line
    return line


def _toml_line(text: str, key: str) -> int | None:
    lines = text.splitlines()
    start = next((number for number, line in enumerate(lines) if _TOML_HEADER.match(line)), None)
    if start is None:
        return None
    pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=')
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            return None
        if pattern.match(lines[number]):
            return number + 1
    return None


def _text(value: Any, where: str, locator: _Locator, *keys: str | int) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        raise locator.error(f"'{where}' must be a non-empty string", *keys)
    return str(value)


def _texts(value: Any, where: str, locator: _Locator, *keys: str | int) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        raise locator.error(f"'{where}' must be a string or a list of strings", *keys)
    return tuple(items)


def _count(value: Any, where: str, locator: _Locator, *keys: str | int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_HISTORY_COUNT:
        raise locator.error(f"'{where}' must be a whole number of commits from 2 to {MAX_HISTORY_COUNT}", *keys)
    return value


def _block_options(name: BlockName, options: Any, locator: _Locator, index: int) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise locator.error(f"block '{name}' takes a mapping of options ({', '.join(BLOCK_OPTIONS[name])})",
                            "blocks", index)
    checked: dict[str, Any] = {}
    for key, value in options.items():
        keys = ("blocks", index, name, key)
        where = f"{name}.{key}"
        if key not in BLOCK_OPTIONS[name]:
            raise locator.error(f"unknown option '{key}' of block '{name}'; its options are: "
                                f"{', '.join(BLOCK_OPTIONS[name])}", *keys)
        if key == "all":
            if not isinstance(value, bool):
                raise locator.error(f"'{where}' must be true or false", *keys)
            checked[key] = value
        elif key in ("targets", "metrics"):
            checked[key] = _texts(value, where, locator, *keys)
        elif key == "count":
            checked[key] = _count(value, where, locator, *keys)
        elif key == "normalize":
            if value not in NORMALIZATIONS:
                raise locator.error(f"'{where}' must be one of {', '.join(NORMALIZATIONS)}", *keys)
            checked[key] = value
        else:
            checked[key] = _text(value, where, locator, *keys)
    return checked


def _blocks(value: Any, locator: _Locator) -> tuple[Block, ...]:
    if not isinstance(value, list) or not value:
        raise locator.error(f"'blocks' must be a list of block names; blocks are: {', '.join(BLOCK_NAMES)}", "blocks")
    blocks: list[Block] = []
    for index, item in enumerate(value):
        options: Any = None
        if isinstance(item, dict) and len(item) == 1:
            item, options = next(iter(item.items()))
        if not isinstance(item, str):
            raise locator.error("each item of 'blocks' must be a block name or {name: {options}}", "blocks", index)
        if item not in BLOCK_NAMES:
            raise locator.error(f"unknown block '{item}'; blocks are: {', '.join(BLOCK_NAMES)}", "blocks", index)
        name = cast(BlockName, item)
        if any(block.name == name for block in blocks):
            raise locator.error(f"block '{name}' is listed twice; list each block once", "blocks", index)
        blocks.append(Block(name, _block_options(name, options, locator, index)))
    return tuple(blocks)


def settings_from_mapping(document: Any, path: str, locator: _Locator | None = None) -> ReportSettings:
    """Check a mapping of report settings (as written under ``[tool.cml.report]``) and return them.

    Errors are :class:`InputError` naming ``path`` and the key, listing the valid keys or values.
    """
    locator = locator or _Locator(path, "")
    if not isinstance(document, dict):
        raise locator.error(f"the report settings must be a mapping of keys ({', '.join(SETTING_KEYS)})")
    values: dict[str, Any] = {}
    for key, value in document.items():
        if key not in SETTING_KEYS:
            raise locator.error(f"unknown key '{key}' in the report settings; keys are: {', '.join(SETTING_KEYS)}",
                                key)
        if key == "blocks":
            values[key] = _blocks(value, locator)
        elif key == "history":
            values[key] = _count(value, key, locator, key)
        elif key in ("title", "rev", "predictions"):
            values[key] = _text(value, key, locator, key)
        else:
            values[key] = _texts(value, key, locator, key)
    for rule in values.get("fail_on", ()):
        try:
            gates.GateRule.parse(rule)
        except UsageError as error:
            raise locator.error(f"fail_on: {error.detail}", "fail_on") from None
    blocks = values.get("blocks")
    if values.get("fail_on") and blocks is not None and not any(block.name == "metrics" for block in blocks):
        raise locator.error("fail_on needs the metrics block, where the gates are checked; add metrics to 'blocks'",
                            "fail_on")
    return ReportSettings(**values, source=path)


def _read_settings_file(path: str) -> str:
    return read_input(path, MAX_DOCUMENT_BYTES, "settings files").decode("utf-8", errors="replace")


def _from_pyproject(path: str, text: str, required: bool) -> ReportSettings | None:
    if not READS_TOML:  # Python < 3.11 reads no TOML: only a file that holds report settings is an error
        if "tool.cml" in text:
            raise InputError(path, "reading [tool.cml.report] needs Python 3.11 or newer; move the settings to "
                                   "cml.yaml under 'report:'")
        return None
    document = parse_toml(text, path)
    tool = document.get("tool", {}) if isinstance(document, dict) else {}
    section = tool.get("cml") if isinstance(tool, dict) else None
    if section is None:
        if required:
            raise InputError(path, "has no [tool.cml.report] table; add one, or give a YAML file with 'report:'")
        return None
    locator = _Locator(path, text)
    if not isinstance(section, dict) or set(section) - {"report"}:
        unknown = next(iter(set(section) - {"report"}), "") if isinstance(section, dict) else ""
        raise locator.error(f"unknown table [tool.cml.{unknown}]; cml reads only [tool.cml.report]")
    if "report" not in section:
        if required:
            raise InputError(path, "has no [tool.cml.report] table; add one")
        return None
    return settings_from_mapping(section["report"], path, locator)


def _from_yaml(path: str, text: str, required: bool) -> ReportSettings | None:
    import yaml

    document = parse_yaml(text, path)
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # bounded by parse_yaml
    if document is None or node is None:
        if required:
            raise InputError(path, "is empty; write the settings under 'report:'")
        return None
    root = _Locator(path, text, node)
    if not isinstance(document, dict):
        raise root.error("must hold a mapping with a 'report:' key")
    unknown = next((key for key in document if key != "report"), None)
    if unknown is not None:
        raise root.error(f"unknown key '{unknown}'; cml.yaml holds the report settings under 'report:'", unknown)
    if "report" not in document:
        return None
    report_node = next(value for key, value in node.value if key.value == "report")
    return settings_from_mapping(document["report"], path, _Locator(path, text, report_node))


def load_settings(config: str | os.PathLike | None = None, cwd: str | os.PathLike | None = None) -> ReportSettings:
    """The report settings: from ``config`` (a TOML file with ``[tool.cml.report]`` or a YAML file with
    ``report:``) when given, else from ``pyproject.toml`` or ``cml.yaml`` in ``cwd``, else the defaults.

    Settings in both ``pyproject.toml`` and ``cml.yaml`` are an error: one of them would be ignored.
    """
    if config is not None:
        path = os.fspath(config)
        text = _read_settings_file(path)
        is_toml = path.lower().endswith(".toml")
        settings = _from_pyproject(path, text, True) if is_toml else _from_yaml(path, text, True)
        if settings is None:
            raise InputError(path, "has no report settings; write them under " +
                             ("[tool.cml.report]" if is_toml else "'report:'"))
        return settings
    folder = os.fspath(cwd) if cwd is not None else "."
    found: list[ReportSettings] = []
    pyproject = os.path.join(folder, PYPROJECT) if cwd is not None else PYPROJECT
    cml_yaml = os.path.join(folder, CML_YAML) if cwd is not None else CML_YAML
    if os.path.isfile(pyproject):
        text = _read_settings_file(pyproject)
        settings = _from_pyproject(pyproject, text, False) if "cml" in text else None
        if settings is not None:
            found.append(settings)
    if os.path.isfile(cml_yaml):
        settings = _from_yaml(cml_yaml, _read_settings_file(cml_yaml), False)
        if settings is not None:
            found.append(settings)
    if len(found) > 1:
        raise InputError(cml_yaml, f"report settings are also in {pyproject} [tool.cml.report]; keep them in one "
                                   "of the two files")
    return found[0] if found else ReportSettings()


# -- what the project has ------------------------------------------------------------------------------------


def dvc_plot_files(cwd: str | os.PathLike | None = None) -> dict[str, set[str]] | None:
    """The files ``dvc.yaml``'s plots draw (folders expanded), each with the templates drawing it; ``None`` without
    a dvc.yaml."""
    definitions = read_definitions(PlotFiles.at(cwd))
    if definitions is None:
        return None
    files: dict[str, set[str]] = {}
    for plot in definitions.plots:
        for path in plot.files:
            files.setdefault(path, set()).add(plot.kind)
    return files


def _drawn_by_dvc(path: str, plot_files: Mapping[str, set[str]] | None, templates: set[str] | None = None) -> bool:
    """Whether dvc.yaml's plots already draw ``path`` (with one of ``templates``, any when ``None``)."""
    path = os.path.normpath(path).replace(os.sep, "/")
    return any((path == plotted or path.startswith(plotted.rstrip("/") + "/")) and (templates is None or used & templates)
               for plotted, used in (plot_files or {}).items())


def has_scores(table: Table) -> bool:
    """Whether ``table`` holds scores a ROC or PR curve can be drawn from: a ``score`` (``prob``…) column, or a
    score column per class (named after it or ``prob_<class>``…), or computed points (dvclive's)."""
    columns = set(table.columns)
    if columns & set(SCORE_COLUMNS):
        return True
    if any(set(points) <= columns for points in POINT_COLUMNS.values()):
        return True
    truth = next((name for name in ACTUAL_COLUMNS if name in columns), None)
    if truth is None:
        return False
    classes = set(table.labels(truth))
    named = {column[len(prefix):] if column.startswith(prefix) else column
             for column in columns for prefix in ("", *SCORE_PREFIXES) if column.startswith(prefix)}
    return len(classes) >= 2 and classes <= named


# -- assembling ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
    path: str
    title: str


_Part = Union[str, _Image]


class _Skipped(Exception):
    """A block left out; the message says why."""


def _unusable(path: str, error: CmlError) -> str:
    """Why the predictions file ``path`` could not be drawn, without the command-line options that
    ``report create`` does not have."""
    detail = _without_options(error.detail if isinstance(error, UsageError) else str(error))
    return detail if detail.startswith(path) else f"{path}: {detail}"


def _without_options(text: str) -> str:
    """A plot's message with its command-line advice (``name the column with --y-pred``) made fit for a report
    built from a predictions file."""
    return re.sub(r"name the columns? with --y-(?:true|pred|score)", "rename a column to one of them", text)


class _Assembly:
    """The state shared by the blocks of one standard report."""

    def __init__(self, settings: ReportSettings, revision: git.Revision, output_dir: str, precision: int,
                 cwd: str | None):
        self.settings = settings
        self.revision = revision
        self.output_dir = output_dir
        self.precision = precision
        self.cwd = cwd
        self.notes: list[str] = []
        self.gate_failures: list[str] = []
        self.workspace = metrics_module.WorkspaceFiles(cwd)
        self.base = metrics_module.RevisionFiles(revision)
        self.image_names = ImageNames(output_dir)
        self._plot_files: dict[str, set[str]] | None = None
        self._plot_files_read = False
        self._tables: dict[str, Table] = {}  # the confusion, roc and pr blocks read one predictions file
        self._base_tables: dict[str, tuple[Table | None, str | None]] = {}

    def at(self, path: str) -> str:
        """``path`` (relative to the project folder) as this process opens it."""
        return path if self.cwd is None else os.path.join(self.cwd, path)

    @property
    def project(self) -> str:
        """The project folder, symlinks resolved."""
        return os.path.realpath(self.cwd or ".")

    def check_inside(self, key: str, paths: Sequence[str]) -> None:
        """Refuse a path of the settings that is not the project's own (see :func:`cml.fileio.project_refusal`): a
        pull request's settings must not make the report read (and draw) files of the machine."""
        project = self.project
        for path in paths:
            refusal = project_refusal(path, "the project folder", project)
            if refusal:
                raise InputError(self.settings.source or "report settings", f"{key}: {path} {refusal}")

    def exists(self, path: str) -> bool:
        return os.path.isfile(self.at(path))

    def table(self, path: str) -> Table:
        """The table ``path`` of the working tree, read once for every block that draws it."""
        if path not in self._tables:
            self._tables[path] = load_table(self.at(path))
        return self._tables[path]

    def image_path(self, stem: str) -> str:
        """A file in the output folder for an image named after ``stem``, distinct from the others of the report."""
        os.makedirs(self.output_dir, exist_ok=True)
        return self.image_names(stem)

    def note(self, block: str, message: str) -> None:
        self.notes.append(f"{block}: {message}")

    @property
    def plot_files(self) -> dict[str, set[str]] | None:
        if not self._plot_files_read:
            self._plot_files = dvc_plot_files(self.cwd)
            self._plot_files_read = True
        return self._plot_files

    def discovered(self, kind: Literal["metrics", "params"], given: Sequence[str]) -> list[str]:
        if given:
            return list(given)
        self.workspace.prefetch(metrics_module.DISCOVERY_FILES)
        self.base.prefetch(metrics_module.DISCOVERY_FILES)
        return list(dict.fromkeys(dvc.discover(kind, self.workspace, self.workspace.cwd)
                                  + dvc.discover(kind, self.base)))

    # -- the blocks ---------------------------------------------------------------------------------------------

    def metrics(self, block: Block) -> list[_Part]:
        settings = self.settings
        files = self.discovered("metrics", settings.metrics)
        if not files:
            reason = "no metrics files (none named in dvc.yaml, no dvclive/metrics.json nor metrics.json)"
            if settings.fail_on:  # a gate must not pass because the metrics it checks went missing
                raise InputError(settings.source or "report settings", f"fail_on: cannot check the gates: {reason}")
            raise _Skipped(reason)
        rules = metrics_module.DirectionRules(settings.higher_is_better, settings.lower_is_better)
        result = metrics_module.diff_revisions(self.revision.name, files, None, "metrics", rules, self.cwd)
        parsed = [gates.GateRule.parse(rule) for rule in settings.fail_on]
        try:
            checked = gates.check(parsed, result, self.precision)
        except UsageError as error:
            raise InputError(settings.source or "report settings", f"fail_on: {error.detail}") from None
        for gate in checked:
            for check in gate.checks:
                if check.verdict == gates.NOT_CHECKED:
                    self.note("metrics", f"rule '{gate.rule.text}' not checked for {check.name}: no base value")
        self.gate_failures.extend(gates.failures(checked))
        show_path = len({delta.path for delta in result.deltas}) > 1
        return [metrics_module.render_diff(result, "md", self.precision, bool(block.options.get("all")), show_path,
                                           checked)]

    def params(self, block: Block) -> list[_Part]:
        files = self.discovered("params", self.settings.params)
        if not files:
            raise _Skipped("no params files (no params.yaml, none named in dvc.yaml, no dvclive/params.yaml)")
        result = metrics_module.diff_revisions(self.revision.name, files, None, "params", None, self.cwd)
        show_path = len({delta.path for delta in result.deltas}) > 1
        return [metrics_module.render_diff(result, "md", self.precision, bool(block.options.get("all")), show_path)]

    def plots(self, block: Block) -> list[_Part]:
        if self.plot_files:
            return self._dvc_plots(block)
        return self._dvclive_curves()

    def _dvc_plots(self, block: Block) -> list[_Part]:
        targets = block.options.get("targets", ())
        try:
            drawn = render_dvc_plots(self.output_dir, revision=self.revision, targets=targets, cwd=self.cwd,
                                     strict=False)
        except UsageError as error:
            if error.parameter == "targets":
                raise InputError(self.settings.source or "report settings", f"plots.targets: {error.detail}") from None
            raise _Skipped(error.detail) from None  # none of the plots' files is there
        for warning in drawn.warnings:
            self.note("plots", warning)
        self.image_names.taken.update(os.path.basename(plot.path).lower() for plot in drawn.plots)
        return [_Image(plot.path, plot.title) for plot in drawn.plots]

    def _dvclive_curves(self) -> list[_Part]:
        folder = self.at(DVCLIVE_METRIC_PLOTS)
        files: list[str] = []
        project = self.project
        for parent, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(parent, name)
                if not name.endswith(".tsv"):
                    continue
                relative = os.path.relpath(path, self.cwd or ".")
                refusal = project_refusal(relative, "the project folder", project, self.cwd or ".")  # a link out, say
                if refusal:
                    self.note("plots", f"{relative} {refusal.split(';')[0]}; left out")
                    continue
                files.append(path)
        if not files:
            reason = "dvc.yaml defines none" if self.plot_files is not None else "no dvc.yaml"
            raise _Skipped(f"no plots ({reason}, and no dvclive training curves in {DVCLIVE_METRIC_PLOTS})")
        by_metric: dict[str, list[str]] = {}
        for path in sorted(files, key=lambda p: [natural_sort_key(part) for part in re.split(r"[\\/]", p)]):
            by_metric.setdefault(os.path.splitext(os.path.basename(path))[0], []).append(path)
        if len(by_metric) > MAX_CURVE_PLOTS:
            left_out = list(by_metric)[MAX_CURVE_PLOTS:]
            self.note("plots", f"drew the first {MAX_CURVE_PLOTS} of {len(by_metric)} metrics' curves; left out "
                               f"{listed(left_out, most=10)}")
            by_metric = dict(list(by_metric.items())[:MAX_CURVE_PLOTS])
        parts: list[_Part] = []
        missing: list[str] = []
        for metric, paths in by_metric.items():
            curves = curves_from_files(paths, revision=self.revision)
            missing.extend(curves.missing_at_revision)
            plot = line_plot(curves.series, self.image_path(f"{metric}"), metric, curves.x_name, metric)
            parts.append(_Image(plot.path, plot.title))
        if missing:
            shown = [os.path.relpath(path, self.cwd or ".") for path in missing]
            self.note("plots", f"{listed(shown, most=5)} not at {self.revision.name}: drawn without the base")
        return parts

    def _predictions(self, kind: str, need_scores: bool) -> tuple[str, Table]:
        """The predictions file of ``kind``'s block and its table; a point file (dvclive's) when no table fits."""
        configured = self.settings.predictions
        candidates = [configured] if configured else [name for name in PREDICTION_FILES if self.exists(name)]
        reasons = []
        if configured and not self.exists(configured):
            reasons.append(f"{configured} (the settings' predictions) does not exist")
        for path in candidates:
            if not self.exists(path):
                continue
            table = self.table(path)
            if need_scores and not has_scores(table):
                reasons.append(f"{path} has no scores (a score or prob column, or one per class)")
                continue
            return path, table
        dvclive_file = dvc.dvclive_sklearn_plot(kind)
        if self.exists(dvclive_file):
            return dvclive_file, self.table(dvclive_file)
        if not reasons:
            reasons.append(f"no predictions ({', '.join(PREDICTION_FILES)} or {dvclive_file})")
        raise _Skipped("; ".join(reasons))

    def _base_table(self, path: str, block: str) -> Table | None:
        """The table ``path`` at the base revision; ``None``, with a note saying why (not there, or unreadable
        there), when there is nothing to compare with."""
        if path not in self._base_tables:
            self._base_tables[path] = base_table(path, self.revision)
        table, reason = self._base_tables[path]
        if reason:
            self.note(block, reason)
        return table

    def confusion(self, block: Block) -> list[_Part]:
        path, table = self._predictions("confusion", need_scores=False)
        if _drawn_by_dvc(path, self.plot_files, {"confusion", "confusion_normalized"}):
            raise _Skipped(f"dvc.yaml's plots already draw {path} as a confusion matrix")
        normalize: Normalization | None = block.options.get("normalize")
        try:
            plot = confusion_from_table(table, self.image_path("confusion_matrix"),
                                        base_table=self._base_table(path, "confusion"), base_label=self.revision.name,
                                        normalize=normalize, title=block.heading)
        except (UsageError, InputError) as error:  # predictions the matrix cannot use leave the other blocks be
            raise _Skipped(_unusable(path, error)) from None
        if plot.details.get("folded"):
            self.note("confusion", folding_note(plot.details["classes"] - plot.details["folded"], plot.details["classes"], path))
        for warning in plot.details.get("warnings", ()):
            self.note("confusion", _without_options(warning))
        return [_Image(plot.path, plot.title)]

    def curve(self, kind: CurveKind, block: Block) -> list[_Part]:
        path, table = self._predictions(kind, need_scores=True)
        if _drawn_by_dvc(path, self.plot_files) and all(column in table.data for column in POINT_COLUMNS[kind]):
            raise _Skipped(f"dvc.yaml's plots already draw {path}")
        stem = "roc_curve" if kind == "roc" else "precision_recall"
        pos_label = block.options.get("pos_label")
        try:
            plot = curve_from_table(kind, table, self.image_path(stem), block.heading, pos_label=pos_label,
                                    base_table=self._base_table(path, kind), base_label=self.revision.name)
        except UsageError as error:
            detail = error.detail.replace("--pos-label", f"the {kind} block's pos_label option")
            if pos_label is None and "--pos-label" in error.detail:  # binary labels whose positive one is unclear
                raise _Skipped(detail) from None
            if pos_label is not None and error.parameter == "pos_label":
                raise InputError(self.settings.source or "report settings", f"{kind}.pos_label: {detail}") from None
            raise _Skipped(_unusable(path, error)) from None
        except InputError as error:
            raise _Skipped(_unusable(path, error)) from None
        if plot.details.get("base_skipped"):
            self.note(kind, f"{plot.details['base_skipped']}; drawn without the base")
        return [_Image(plot.path, plot.title)]

    def history(self, block: Block) -> list[_Part]:
        count = block.options.get("count", self.settings.history)
        try:
            history = metric_history(count, block.options.get("metrics", ()), self.settings.metrics or None,
                                     self.revision.name, self.cwd)
        except UsageError as error:
            if error.parameter == "metrics":
                raise InputError(self.settings.source or "report settings", f"history.metrics: {error.detail}") \
                    from None
            raise _Skipped(error.detail) from None  # no metrics files in the history nor the working tree
        if len(history.commits) < 2:
            raise _Skipped(f"one point only: {history.base}'s history has no other commit with the metrics files")
        return [render_history(history, "md", self.precision)]


def _build(assembly: _Assembly, block: Block) -> list[_Part]:
    if block.name in ("roc", "pr"):
        return assembly.curve(block.name, block)
    builders: dict[str, Callable[[Block], list[_Part]]] = {
        "metrics": assembly.metrics, "params": assembly.params, "plots": assembly.plots,
        "confusion": assembly.confusion, "history": assembly.history,
    }
    return builders[block.name](block)


@contextlib.contextmanager
def _removed_on_failure(folder: str) -> Iterator[None]:
    """What the blocks write into ``folder`` is removed when one of them fails (a setting found wrong after the
    plots were drawn, say), so a failed report leaves no images behind, nor a folder it created."""
    existed = os.path.isdir(folder)
    before = set(os.listdir(folder)) if existed else set()
    try:
        yield
    except BaseException:
        if os.path.isdir(folder):
            for name in set(os.listdir(folder)) - before:
                path = os.path.join(folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(path)
            if not existed:
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        raise


def assemble(report: Report, settings: ReportSettings, rev: str, cwd: str | os.PathLike | None = None) -> list[str]:
    """Add the blocks of ``settings`` to ``report`` (comparing with git revision ``rev``); returns the notes: the
    blocks left out and why, and the blocks' warnings, one line each.

    The ``plots`` block is drawn first whatever its place, so the image names it takes are known to the others.
    """
    folder = os.fspath(cwd) if cwd is not None else None
    revision = git.resolve(rev, folder)
    assembly = _Assembly(settings, revision, report.output_dir, report.precision, folder)
    assembly.check_inside("metrics", settings.metrics)
    assembly.check_inside("params", settings.params)
    assembly.check_inside("predictions", [settings.predictions] if settings.predictions else [])
    order = sorted(settings.blocks, key=lambda block: block.name != "plots")
    built: dict[str, list[_Part]] = {}
    with _removed_on_failure(report.output_dir):
        for block in order:
            try:
                built[block.name] = _build(assembly, block)
            except _Skipped as skipped:
                assembly.note(block.name, f"skipped: {skipped}")
    if settings.title:
        report.heading(escape_inline(settings.title), 1)
    for block in settings.blocks:
        if block.name not in built:
            continue
        report.heading(escape_inline(block.heading))
        for part in built[block.name]:
            if isinstance(part, _Image):
                report.image(part.path, part.title)
            else:
                report.text(part)
    report.gate_failures.extend(assembly.gate_failures)
    return assembly.notes


def default_plots_dir(report_path: str | os.PathLike) -> str:
    """Where ``cml report create`` writes the images of ``report_path``: ``<stem>_plots`` beside it."""
    path = os.fspath(report_path)
    folder, name = os.path.split(path)
    return os.path.join(folder, os.path.splitext(name)[0] + "_plots")


