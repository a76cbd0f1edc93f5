"""The :class:`Report` builder: the same blocks as the CLI, from a training script."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Union
from collections.abc import Mapping, Sequence

from cml.ci import default_base_revision
from cml.errors import QualityGateFailed, UsageError
from cml.fileio import write_atomic
from cml.report import gates, metrics as metrics_module, standard as standard_report
from cml.report import history as history_module
from cml.report.classification import ClassificationReport
from cml.report.data import Table, comparison_revision, flatten, load_table, table_from_records
from cml.report.markdown import OutputFormat, image_markdown, link_target
from cml.report.plots import Plot, Series, confusion_matrix, line_plot, pr_curve, roc_curve
from cml.report.plots.common import check_output
from cml.report.plots.confusion import Normalization
from cml.report.plots.curves import Scores
from cml.report.plots.dvc import render_dvc_plots
from cml.report.plots.line import curves_from_runs, curves_title, metric_names, metrics_label
from cml.report.preview import render_page
from cml.report.runs import TrackedRun
from cml.report.table import render_table


@dataclass(frozen=True)
class _Image:
    path: str
    title: str


#: A block of the report: Markdown text, or an image linked relative to wherever the report is written.
_Block = Union[str, _Image]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "plot"


class Report:
    """A Markdown report assembled block by block.

    Plots are written into ``output_dir`` as they are added; image links are made
    relative to wherever :meth:`write` puts the report. Every method returns the
    report, so calls chain::

        Report("results").metrics_diff("origin/main").confusion_matrix(y, p).write("results/report.md")

    Quality gates (``fail_on`` rules, see :mod:`cml.report.gates`) are shown in the report
    after their diff; when one failed, :meth:`write` and :meth:`write_html` write the file
    and then raise :class:`cml.errors.QualityGateFailed`, so a training script fails in CI
    with its report on disk. Pass ``raise_on_gates=False`` to write without raising.
    """

    def __init__(self, output_dir: str | os.PathLike = ".", precision: int = metrics_module.DEFAULT_PRECISION):
        self.output_dir = os.fspath(output_dir)
        self.precision = precision
        self.gate_failures: list[str] = []
        self._blocks: list[_Block] = []
        self._names: set[str] = set()

    # -- text and tables -------------------------------------------------------------------

    def text(self, markdown: str) -> Report:
        """Add raw Markdown."""
        self._blocks.append(markdown.strip("\n"))
        return self

    def heading(self, text: str, level: int = 2) -> Report:
        """Add a heading (``##`` by default)."""
        return self.text(f"{'#' * level} {text}")

    def metrics(self, source: Sequence[str] | Mapping[str, Any] | None = None,
                output_format: OutputFormat = "md") -> Report:
        """Add a table of metric values, from files (or dvc.yaml's) or from a mapping."""
        if isinstance(source, Mapping):
            values = {"": flatten(dict(source))}
            table = metrics_module.render_values(values, output_format, self.precision, show_path=False)
        else:
            table = metrics_module.render_values(metrics_module.load_workspace(source), output_format, self.precision)
        return self.text(table)

    def metrics_diff(
        self,
        rev: str | None = None,
        files: Sequence[str] | None = None,
        *,
        base: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        head_rev: str | None = None,
        base_label: str = "base",
        head_label: str = "head",
        higher_is_better: Sequence[str] = (),
        lower_is_better: Sequence[str] = (),
        show_all: bool = False,
        fail_on: Sequence[str] = (),
        history: int | None = None,
    ) -> Report:
        """Add a direction-aware diff: files at git ``rev`` vs the working tree, or ``base`` vs ``head`` mappings.

        ``fail_on`` rules (``value(accuracy)<0.9``, ``change(accuracy)<-0.01``, ``loss>5%``) are
        listed with their verdicts after the table; failures are collected in
        :attr:`gate_failures`, and :meth:`write` raises on them after writing.
        ``history=N`` adds a Trend column: each metric's sparkline over the last N commits of ``rev``, then
        the head (a diff of files at git revisions only).
        """
        rules = metrics_module.DirectionRules(tuple(higher_is_better), tuple(lower_is_better))
        parsed = [gates.GateRule.parse(rule) for rule in fail_on]
        if base is not None or head is not None:
            if history is not None:
                raise UsageError("a history is read from git: compare files at a revision (rev), not mappings",
                                 parameter="history")
            result = metrics_module.diff_values(base or {}, head or {}, "", base_label, head_label, rules)
            show_path = False
        else:
            base_revision = rev or default_base_revision()
            result = metrics_module.diff_revisions(base_revision, files, head_rev, "metrics", rules)
            show_path = True
            if history is not None:
                trends, _ = history_module.diff_history(result, history, base_revision, files)
                return self._diff_with_gates(result, parsed, show_all, show_path, trends)
        return self._diff_with_gates(result, parsed, show_all, show_path)

    def _diff_with_gates(self, result: metrics_module.MetricsDiff, rules: Sequence[gates.GateRule], show_all: bool,
                         show_path: bool, trends: Mapping[tuple[str, str], Sequence[Any]] | None = None) -> Report:
        checked = gates.check(rules, result, self.precision)
        self.gate_failures.extend(gates.failures(checked))
        return self.text(metrics_module.render_diff(result, "md", self.precision, show_all, show_path, checked,
                                                    history=trends))

    def check_gates(self) -> None:
        """Raise :class:`cml.errors.QualityGateFailed` if any ``fail_on`` rule failed."""
        if self.gate_failures:
            raise QualityGateFailed(self.gate_failures)

    def _raise_on_gates(self, path: str) -> None:
        if self.gate_failures:
            raise QualityGateFailed(self.gate_failures, f"{path} was written; to write without raising, pass "
                                                        f"raise_on_gates=False (and call check_gates() later)")

    def params_diff(self, rev: str | None = None, files: Sequence[str] | None = None, show_all: bool = False) -> Report:
        """Add a diff of parameters (``params.yaml`` and dvc.yaml's params) against git ``rev``."""
        result = metrics_module.diff_revisions(rev or default_base_revision(), files, kind="params")
        return self.text(metrics_module.render_diff(result, "md", self.precision, show_all))

    def history(self, count: int = history_module.DEFAULT_COUNT, metrics: Sequence[str] = (), rev: str | None = None,
                filename: str | None = None, files: Sequence[str] | None = None,
                max_rows: int | None = history_module.MAX_ROWS) -> Report:
        """Add each metric's history over the last ``count`` commits of ``rev`` (default: the pull request's
        target branch in CI, else ``HEAD``) and the working tree: first, last, change, range and a sparkline.

        ``metrics`` are names or globs (default: every numeric metric), ``files`` the metrics files (default:
        dvc.yaml's, dvclive's or ``metrics.json``). With ``filename``, a plot of the trends (a panel per metric)
        is written there in :attr:`output_dir` and added after the table.
        """
        path = self._plot_path(filename, "Metric history") if filename is not None else None
        result = history_module.metric_history(count, metrics, files, rev or default_base_revision())
        self.text(history_module.render_history(result, "md", self.precision, max_rows))
        if path is None:
            return self
        return self._add_plot(history_module.history_plot(result, path))

    def table(
        self,
        source: str | os.PathLike | Table | Sequence[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
        sort: str | None = None,
        descending: bool = False,
        max_rows: int | None = None,
    ) -> Report:
        """Add a table from a CSV/TSV/JSON file, a :class:`~cml.report.data.Table` or a list of records."""
        if isinstance(source, Table):
            table = source
        elif isinstance(source, (str, os.PathLike)):
            table = load_table(source)
        else:
            table = table_from_records(list(source), "records")
        return self.text(render_table(table, columns, sort, descending, max_rows, self.precision))

    def classification(self, y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None) -> Report:
        """Add per-class precision, recall, F1 and support."""
        report = ClassificationReport.from_labels(y_true, y_pred, labels)
        return self.text(report.render("md", precision=min(self.precision, 3)))

    # -- plots -------------------------------------------------------------------------------

    def _plot_path(self, filename: str | None, title: str) -> str:
        name = check_output(filename, "filename") if filename else f"{_slug(title)}.png"
        stem, extension = os.path.splitext(name)
        counter = 2
        while name in self._names:
            name = f"{stem}_{counter}{extension}"
            counter += 1
        self._names.add(name)
        return os.path.join(self.output_dir, name)

    def _add_plot(self, plot: Plot) -> Report:
        self._blocks.append(_Image(os.path.abspath(plot.path), plot.title))
        return self

    def confusion_matrix(
        self,
        y_true: Sequence,
        y_pred: Sequence,
        labels: Sequence[str] | None = None,
        normalize: Normalization | None = None,
        title: str = "Confusion matrix",
        filename: str | None = None,
        *,
        base_true: Sequence | None = None,
        base_pred: Sequence | None = None,
        base_label: str = "base",
    ) -> Report:
        """Add a confusion matrix (``normalize``: ``true``, ``pred`` or ``all``); correct predictions blue,
        confusions orange, each on its own scale.

        With ``base_true`` and ``base_pred`` (the base branch's actual and predicted labels, named
        ``base_label``), a change view: the matrix beside head − base, red where the head got worse and blue
        where better (fractions of each actual class when the sample counts differ).
        """
        if (base_true is None) != (base_pred is None):
            raise UsageError("give base_pred too (or neither)" if base_pred is None else "give base_true too (or neither)",
                             parameter="base_pred" if base_pred is None else "base_true")
        base = (base_true, base_pred) if base_true is not None and base_pred is not None else None
        path = self._plot_path(filename, title)
        try:
            plot = confusion_matrix(y_true, y_pred, path, labels, normalize, title, base=base, base_label=base_label)
        except UsageError as error:
            if error.parameter != "base":
                raise
            raise error.naming("base_true") from error.__cause__  # the plot takes both sides as one pair
        return self._add_plot(plot)

    def roc(
        self, y_true: Sequence, scores: Scores, title: str = "ROC curve", filename: str | None = None,
        pos_label: Any = None, *, base_true: Sequence | None = None, base_scores: Scores | None = None,
        base_label: str = "base",
    ) -> Report:
        """Add ROC curves: ``scores`` is one array (binary) or ``{label: scores}`` (one-vs-rest), with a macro
        average for several classes.

        A binary problem whose labels are not 0/1, -1/1 or false/true needs ``pos_label``, the positive class.
        ``base_true`` and ``base_scores`` (the base branch's model on its data) are drawn dashed, named
        ``base_label``: one class's curve, or the macro average of several, with each class's base AUC in the legend.
        """
        base = self._curve_base(base_true, base_scores)
        path = self._plot_path(filename, title)
        try:
            return self._add_plot(roc_curve(y_true, scores, path, title, pos_label, base, base_label))
        except UsageError as error:
            if error.parameter != "base":
                raise
            raise error.naming("base_scores") from error.__cause__

    @staticmethod
    def _curve_base(base_true: Sequence | None, base_scores: Scores | None) -> tuple[Sequence, Scores] | None:
        if (base_true is None) != (base_scores is None):
            missing = "base_scores" if base_scores is None else "base_true"
            raise UsageError("give base_true and base_scores together", parameter=missing)
        return None if base_true is None or base_scores is None else (base_true, base_scores)

    def precision_recall(
        self, y_true: Sequence, scores: Scores, title: str = "Precision-recall curve", filename: str | None = None,
        pos_label: Any = None, *, base_true: Sequence | None = None, base_scores: Scores | None = None,
        base_label: str = "base",
    ) -> Report:
        """Add precision-recall curves with average precision in the legend and the chance line (the positive
        rate); ``pos_label`` and the base as for :meth:`roc`."""
        base = self._curve_base(base_true, base_scores)
        path = self._plot_path(filename, title)
        try:
            return self._add_plot(pr_curve(y_true, scores, path, title, pos_label, base, base_label))
        except UsageError as error:
            if error.parameter != "base":
                raise
            raise error.naming("base_scores") from error.__cause__

    def line(
        self,
        y: Mapping[str, Sequence[float]] | Sequence[float],
        x: Sequence[float] | None = None,
        title: str | None = None,
        filename: str | None = None,
        x_label: str = "step",
        y_label: str | None = None,
        log_y: bool = False,
    ) -> Report:
        """Add a line plot of one series or ``{name: values}``, against ``x`` or the index.

        The title and y label default to what the names say: ``{"loss": …, "val_loss": …}`` is titled
        ``loss, val_loss`` with ``loss`` on the y axis; one unnamed series is titled "Training curves" (or its
        ``y_label``). ``""`` draws no title or label. The x ticks are whole numbers for ``step``/``epoch``…
        or whole x values.
        """
        if isinstance(y, Mapping):
            named = {str(label): values for label, values in y.items()}
        else:
            named = {y_label or "value": y}
        series = []
        for label, values in named.items():
            values = list(values)
            xs = list(x) if x is not None else list(range(len(values)))
            metric = label if isinstance(y, Mapping) or y_label else None
            series.append(Series(label, xs, values, metric=metric))
        metrics = metric_names(series)
        if title is None:
            title = curves_title(metrics) or "Training curves"
        if y_label is None:
            y_label = metrics_label(metrics)
        path = self._plot_path(filename, title or "Training curves")
        return self._add_plot(line_plot(series, path, title, x_label, y_label, log_y))

    def image(self, path: str | os.PathLike, title: str = "") -> Report:
        """Add an existing image file."""
        self._blocks.append(_Image(os.path.abspath(os.fspath(path)), title))
        return self

    def image_paths(self) -> list[str]:
        """The absolute paths of the report's images, in the order they appear."""
        return [block.path for block in self._blocks if isinstance(block, _Image)]

    def dvc_plots(self, rev: str | None = None, targets: Sequence[str] = (), *, compare: bool = True,
                  cwd: str | os.PathLike | None = None) -> Report:
        """Add every plot ``dvc.yaml`` (in ``cwd``, default the current folder) defines, drawn as PNG images into
        ``<output_dir>/dvc_plots`` with the same plots at git ``rev`` overlaid; ``targets`` (plot ids, files or
        folders) picks some.

        ``rev`` defaults to the CI's base branch in CI and to no comparison outside it (``compare=False``: never).
        Each image's alt text is its plot's title. What could not be drawn or compared (a file missing at ``rev``,
        an unknown template) is reported with :func:`warnings.warn`.
        """
        revision, reason = comparison_revision(rev, cwd=cwd) if compare else (None, None)
        if reason:
            warnings.warn(reason, stacklevel=2)
        plots = render_dvc_plots(os.path.join(self.output_dir, "dvc_plots"), revision=revision, targets=targets,
                                 cwd=cwd)
        for message in plots.warnings:
            warnings.warn(message, stacklevel=2)
        for plot in plots.plots:
            self._add_plot(plot)
        return self

    # -- tracked runs (cml.trackers: MLflow, Sacred, dvclive) ------------------------------------

    def run_metrics(self, run: TrackedRun, base: TrackedRun | None = None, higher_is_better: Sequence[str] = (),
                    lower_is_better: Sequence[str] = (), show_all: bool = True, fail_on: Sequence[str] = ()) -> Report:
        """Add a tracked run's metrics (a :class:`cml.trackers.RunData`), or their diff against ``base``."""
        if base is None:
            return self.text(metrics_module.render_values({run.label: run.metrics}, "md", self.precision, False))
        rules = metrics_module.DirectionRules(tuple(higher_is_better), tuple(lower_is_better))
        parsed = [gates.GateRule.parse(rule) for rule in fail_on]
        result = metrics_module.diff_runs(base, run, "metrics", rules)
        return self._diff_with_gates(result, parsed, show_all, False)

    def run_params(self, run: TrackedRun, base: TrackedRun | None = None, show_all: bool = True) -> Report:
        """Add a tracked run's params, or their diff against ``base``."""
        if base is None:
            return self.text(metrics_module.render_values({run.label: run.params}, "md", self.precision, False,
                                                          kind="params"))
        result = metrics_module.diff_runs(base, run, "params")
        return self.text(metrics_module.render_diff(result, "md", self.precision, show_all, False))

    def run_curves(self, run: TrackedRun, metrics: Sequence[str] = (), base: TrackedRun | None = None,
                   title: str = "Training curves", filename: str | None = None, log_y: bool = False) -> Report:
        """Add a plot of a tracked run's metric histories (names or globs), ``base``'s dashed."""
        try:
            curves = curves_from_runs(run, tuple(metrics), base, base.label if base is not None else "base")
        except UsageError as error:
            if error.parameter != "y":
                raise
            raise error.naming("metrics") from error.__cause__  # curves_from_runs calls the names y
        return self._add_plot(line_plot(curves.series, self._plot_path(filename, title), title, "step", None, log_y))

    # -- the standard report (cml report create) ------------------------------------------------------------

    #: What :meth:`standard` left out and why, and its blocks' warnings, one line each (empty for other reports).
    notes: tuple[str, ...] = ()

    @classmethod
    def standard(
        cls,
        output_dir: str | os.PathLike = ".",
        *,
        rev: str | None = None,
        config: str | os.PathLike | standard_report.ReportSettings | None = None,
        cwd: str | os.PathLike | None = None,
    ) -> Report:
        """The report ``cml report create`` writes: every block the project in ``cwd`` has inputs for.

        Blocks, in this order unless the settings choose: ``metrics`` (diff against ``rev`` with the
        ``fail_on`` gates), ``params``, ``plots`` (dvc.yaml's plots, else dvclive's training curves),
        ``confusion``, ``roc`` and ``pr`` (from ``predictions.csv``/``.tsv``/``.json`` or dvclive's sklearn
        plots), and ``history``. Settings come from ``config`` (a file, or
        :class:`~cml.report.standard.ReportSettings`), else ``[tool.cml.report]`` in ``pyproject.toml`` or
        ``report:`` in ``cml.yaml``; ``rev`` defaults to theirs, else the CI's base branch (``HEAD`` outside CI).
        Images go into ``output_dir``; :attr:`notes` says which blocks were left out and why. Failed gates
        raise when the report is written, as with :meth:`metrics_diff`::

            Report.standard("report_plots").write("report.md")
        """
        if isinstance(config, standard_report.ReportSettings):
            settings = config
        else:
            settings = standard_report.load_settings(config, cwd)
        report = cls(output_dir)
        base = rev or settings.rev or default_base_revision()
        report.notes = tuple(standard_report.assemble(report, settings, base, cwd))
        return report

    def markdown(self, relative_to: str | os.PathLike | None = None) -> str:
        """The report as Markdown, image paths relative to the folder ``relative_to``."""
        folder = os.path.abspath(os.fspath(relative_to) if relative_to is not None else ".")
        parts = []
        for block in self._blocks:
            if isinstance(block, _Image):
                parts.append(image_markdown(block.title, link_target(block.path, folder)))
            else:
                parts.append(block)
        return "\n\n".join(parts) + "\n"

    def __str__(self) -> str:
        return self.markdown()

    def write(self, path: str | os.PathLike, *, raise_on_gates: bool = True) -> str:
        """Write the Markdown report atomically; returns the path.

        When a quality gate failed, the report is written and then
        :class:`cml.errors.QualityGateFailed` is raised, so an uncaught failure fails the
        training script (its ``exit_code`` is 2, the exit status of ``cml metrics diff``),
        unless ``raise_on_gates`` is false.
        """
        path = os.fspath(path)
        write_atomic(path, self.markdown(os.path.dirname(os.path.abspath(path))))
        if raise_on_gates:
            self._raise_on_gates(path)
        return path

    def write_html(self, path: str | os.PathLike, *, raise_on_gates: bool = True) -> str:
        """Write a self-contained HTML preview (images inlined) atomically; returns the path.

        Failed quality gates raise after writing, as in :meth:`write`.
        """
        path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(path))
        write_atomic(path, render_page(self.markdown(folder), folder, title=os.path.basename(path)).html)
        if raise_on_gates:
            self._raise_on_gates(path)
        return path
