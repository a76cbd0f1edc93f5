"""``cml metrics show|diff|history|classification``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, output_format_option, pass_app, precision_option, split_values
from cml.cli.run_options import run_source_options
from cml.errors import QualityGateFailed, UsageError

# The report modules (and git, the trackers, the gates and the history behind them) are imported by the command that
# runs, not here: ``cml metrics diff --help`` loads none of them, and a plain ``cml metrics diff`` neither the
# gates, the history, the classification report nor the trackers (tests/test_startup.py checks).
if TYPE_CHECKING:
    from cml.report.data import DocumentKind
    from cml.report.markdown import OutputFormat
    from cml.report.metrics import DirectionRules, MetricsDiff
    from cml.trackers.sources import RunSource

METRICS_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".csv", ".tsv")
#: The defaults and bounds the options show in their help, so that declaring them imports no report module: the
#: values of cml.report.metrics.DEFAULT_PRECISION, cml.report.history's DEFAULT_COUNT, MAX_COUNT and MAX_ROWS and
#: cml.report.classification.MAX_TABLE_CLASSES (tests/cli/test_metrics.py checks that they still are).
DEFAULT_PRECISION = 5
HISTORY_DEFAULT_COUNT = 20
HISTORY_MAX_COUNT = 1000
HISTORY_MAX_ROWS = 50
MAX_TABLE_CLASSES = 100


def split_revision(arguments: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """Split ``[REV] [FILE…]``: the first argument is a file if it exists or looks like one."""
    if not arguments:
        return None, []
    first = arguments[0]
    if os.path.exists(first) or first.lower().endswith(METRICS_SUFFIXES):
        return None, list(arguments)
    return first, list(arguments[1:])


def no_path_option(function: Callable) -> Callable:
    """``--no-path``: leave out the Path column."""
    return click.option("--no-path", is_flag=True, help="Leave out the Path column.")(function)


#: cml.report.data's limits (MAX_DOCUMENT_BYTES, MAX_TABLE_BYTES, MAX_NESTING, MAX_YAML_ALIASES,
#: MAX_DOCUMENT_VALUES) in words; tests/cli/test_metrics.py checks them against the constants.
DOCUMENT_LIMITS = ("Files over 32 MiB (CSV/TSV: 256 MiB), nested over 100 levels, with over 100 YAML aliases or over "
                   "100,000 keys and values are refused.")


@click.group(cls=CmlGroup, name="metrics",
             help=f"Show and compare metrics files (JSON, YAML, TOML, CSV/TSV last row). {DOCUMENT_LIMITS}")
def command() -> None:
    """The ``metrics`` group; its help text names the limits."""


def print_result(app: Application, text: str, output_format: OutputFormat) -> None:
    """Markdown as a block that ends with a blank line; JSON and terminal tables as they are."""
    if output_format == "md":
        app.markdown(text)
    else:
        app.output(text)


def add_show_command(group: click.Group, kind: DocumentKind, summary: str, examples: str) -> None:
    """Add ``show`` to the ``metrics`` or ``params`` group; ``examples`` follow the first line of its help."""

    @group.command(name="show", help=f"{summary}\n\n\b\nExamples:\n{examples}")
    @click.argument("files", nargs=-1, metavar="[FILE]...")
    @run_source_options
    @output_format_option
    @precision_option(DEFAULT_PRECISION)
    @no_path_option
    @pass_app
    def show(app: Application, files, run_source, output_format, precision, no_path) -> None:
        from cml.report import metrics as metrics_report

        if run_source.active:
            if files:
                raise UsageError("give FILEs or a run source, not both", parameter=run_source.parameter)
            run = run_source.head(app.environ)
            values = {run.label: run.metrics if kind == "metrics" else run.params}
        else:
            values = metrics_report.load_workspace(files, kind=kind)
        print_result(app, metrics_report.render_values(values, output_format, precision, not no_path, kind=kind),
                     output_format)


def diff_result(app: Application, arguments: tuple[str, ...], head_revision: str | None, run_source: RunSource,
                kind: DocumentKind, directions: DirectionRules | None = None) -> MetricsDiff:
    """The diff of ``[REV] [FILE]...`` files, or of the run source's head and base runs."""
    from cml.ci import default_base_revision
    from cml.report import metrics as metrics_report

    revision, files = split_revision(arguments)
    base_revision = revision or default_base_revision(app.environ)
    if not run_source.active:
        return metrics_report.diff_revisions(base_revision, files, head_revision, kind, directions)
    if files:
        raise UsageError("give FILEs or a run source, not both", parameter=run_source.parameter)
    base = run_source.base(app.environ, base_revision)
    head = run_source.head(app.environ, head_revision)
    if run_source.is_mlflow:
        return metrics_report.diff_runs(base, head, kind, directions, base.label.removeprefix("mlflow:"),
                                        head.label.removeprefix("mlflow:"))
    return metrics_report.diff_runs(base, head, kind, directions, base_revision, head_revision or "workspace")


add_show_command(command, "metrics", "Show metrics; with no FILE, those named in dvc.yaml, else dvclive/metrics.json. "
                 "With --mlflow-run, --mlflow-experiment, --sacred or --dvclive, a tracked run's last values.",
                 "  cml metrics show --md >> report.md\n  cml metrics show results/metrics.json --json")


@command.command()
@click.argument("arguments", nargs=-1, metavar="[REV] [FILE]...")
@run_source_options
@click.option("--head", "head_revision", metavar="REV", help="Compare REV with this revision instead of the working tree.")
@click.option("-a", "--all", "show_all", is_flag=True, help="Include unchanged metrics.")
@click.option("--higher-is-better", multiple=True, metavar="PATTERN",
              help="Glob of metric names that improve upwards (repeat or comma-separate).")
@click.option("--lower-is-better", multiple=True, metavar="PATTERN",
              help="Glob of metric names that improve downwards (repeat or comma-separate).")
@click.option("--fail-on", multiple=True, metavar="RULE",
              help="Quality gate (repeatable): exit 2 when a metric breaks RULE. 'value(accuracy)<0.97' checks the "
                   "value, 'change(accuracy)<-0.01' the change, 'change(loss)>5%' the relative change; PATTERN may "
                   "be a glob. Short forms only for a change: 'loss>5%', 'accuracy<-0.01'. A removed, NaN or "
                   "non-numeric metric fails the rule; the verdicts follow the table.")
@click.option("--history", type=click.IntRange(1, HISTORY_MAX_COUNT), metavar="N",
              help="Add a Trend column: each metric's sparkline over the last N commits of REV (first parents), "
                   "then the head; read from one git process.")
@output_format_option
@precision_option(DEFAULT_PRECISION)
@no_path_option
@pass_app
def diff(app: Application, arguments, run_source, head_revision, show_all, higher_is_better, lower_is_better, fail_on,
         history, output_format, precision, no_path) -> None:
    """Compare metrics with REV (default: the pull request's target branch in CI, else HEAD).

    \b
    Examples:
      cml metrics diff --md >> report.md
      cml metrics diff --fail-on 'change(accuracy)<-0.01' --fail-on 'value(loss)>0.5'

    REV's files are read straight from git, without a checkout. Loss-, error- and
    mse-like metrics improve downwards, accuracy-, f1- and auc-like ones upwards;
    a change against that direction is marked as worse.

    With a run source: --sacred/--dvclive compare the folder with the same folder at REV;
    --mlflow-experiment compares the runs logged from HEAD and from REV; --mlflow-run
    compares that run with --mlflow-base-run (or with REV's run in --mlflow-experiment).
    """
    from cml.report import metrics as metrics_report

    if fail_on:  # the quality gates load only with --fail-on, the history only with --history
        from cml.report import gates
    rules = [gates.GateRule.parse(text) for text in fail_on]
    directions = metrics_report.DirectionRules(split_values(higher_is_better), split_values(lower_is_better))
    if history and run_source.active:
        raise UsageError("the history is read from git's metrics files, not from a run source", parameter="history")
    result = diff_result(app, arguments, head_revision, run_source, "metrics", directions)
    trends = None
    if history:
        from cml.ci import default_base_revision
        from cml.report import history as history_report

        revision, files = split_revision(arguments)
        trends, notes = history_report.diff_history(result, history, revision or default_base_revision(app.environ),
                                                    files)
        for note in notes:
            app.warn(f"--history: {note}")
    checked = gates.check(rules, result, precision) if rules else []
    print_result(app, metrics_report.render_diff(result, output_format, precision, show_all, not no_path, checked,
                                                 history=trends), output_format)
    if not rules:
        return
    for gate in checked:
        for metric in gate.checks:
            if metric.verdict == gates.NOT_CHECKED:
                app.warn(f"rule '{gate.rule.text}' not checked for {metric.name}: no base value", file=metric.path)
    failures = gates.failures(checked)
    if failures:
        raise QualityGateFailed(failures)


@command.command()
@click.argument("metrics", nargs=-1, metavar="[METRIC]...")
@click.option("-n", "--commits", "count", type=click.IntRange(1, HISTORY_MAX_COUNT),
              default=HISTORY_DEFAULT_COUNT, show_default=True, metavar="N",
              help="Read the last N commits of REV (first parents: a merged branch counts as its merge commit).")
@click.option("--rev", "base", metavar="REV", help="The branch whose history is read  [default: the pull request's "
              "target branch in CI, else HEAD]")
@click.option("-f", "--file", "files", multiple=True, metavar="FILE",
              help="Metrics file to follow (repeatable)  [default: those dvc.yaml names at each commit, else "
                   "dvclive/metrics.json or metrics.json]")
@click.option("-o", "--output", metavar="IMAGE",
              help="Also draw the trends (a panel per metric) into this image (.png, .svg or .pdf) and print its "
                   "Markdown line after the table.")
@click.option("--title", default="Metric history", show_default=True, help="Plot title, also the image's alt text.")
@click.option("--report", metavar="REPORT.md", type=click.Path(dir_okay=False),
              envvar=["CML_METRICS_HISTORY_REPORT", "CML_REPORT"],
              help="The Markdown file this output is appended to; the image link is printed relative to its folder.")
@click.option("--max-rows", type=click.IntRange(min=1), default=HISTORY_MAX_ROWS, show_default=True,
              metavar="N", help="Show at most N metrics in the table (JSON has them all).")
@output_format_option
@precision_option(DEFAULT_PRECISION)
@pass_app
def history(app: Application, metrics, count, base, files, output, title, report, max_rows, output_format,
            precision) -> None:
    """Show how metrics moved over the last commits of a branch: first, last, change, range and a sparkline.

    \b
    Examples:
      cml metrics history --md >> report.md
      cml metrics history -n 50 accuracy 'val_*' -o plots/history.png --report report.md >> report.md

    METRIC is a name or glob (default: every numeric metric). Each commit's files are
    read straight from git, without a checkout, by one git process for all commits; the
    working tree is the last point. Commits without the files are skipped and counted.
    In a shallow CI clone, fetch the history first (fetch-depth: 0 in actions/checkout).
    """
    from cml.ci import default_base_revision
    from cml.report import history as history_report
    from cml.report.plots.common import check_output

    if output:
        check_output(output)
    result = history_report.metric_history(count, metrics, files or None, base or default_base_revision(app.environ))
    if output_format != "json" and len(result.series) > max_rows:
        app.warn(f"the table shows {max_rows} of {len(result.series)} metrics; name the metrics to show (METRIC…) "
                 "or raise --max-rows")
    print_result(app, history_report.render_history(result, output_format, precision, max_rows), output_format)
    if output:
        plot = history_report.history_plot(result, output, title)
        if plot.details["metrics"] > plot.details["panels"]:
            app.warn(f"{output} draws the first {plot.details['panels']} of {plot.details['metrics']} metrics; name "
                     "the metrics to draw (METRIC…)")
        if output_format != "json":
            app.markdown(plot.markdown_in(report))


@command.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--y-true", metavar="COLUMN", help="Column of actual labels  [default: actual, y_true, …]")
@click.option("--y-pred", metavar="COLUMN", help="Column of predicted labels  [default: predicted, y_pred, …]")
@click.option("--max-classes", type=click.IntRange(min=1), default=MAX_TABLE_CLASSES, show_default=True, metavar="N",
              help="Show at most N classes, the most frequent, and sum the others in one 'other' row (not in JSON).")
@output_format_option
@precision_option(3)
@pass_app
def classification(app: Application, file, y_true, y_pred, max_classes, output_format, precision) -> None:
    """Per-class precision, recall, F1 and support from actual/predicted columns.

    \b
    Examples:
      cml metrics classification predictions.csv --md >> report.md
      cml metrics classification eval.tsv --y-true label --y-pred guess --json
    """
    from cml.report.classification import ClassificationReport, folding_note, label_pairs
    from cml.report.data import load_table

    actual, predicted = label_pairs(load_table(file), y_true, y_pred)
    report = ClassificationReport.from_labels(actual, predicted)
    if output_format != "json" and len(report.classes) > max_classes:
        app.warn(f"{folding_note(max_classes, len(report.classes), 'the table')}; raise --max-classes to show more")
    print_result(app, report.render(output_format, precision, max_classes), output_format)
