"""``cml plot confusion|roc|pr|line|dvc``: each writes an image (``dvc``: one per plot of dvc.yaml) and prints its
Markdown line."""

from __future__ import annotations

import functools
import os
from typing import Callable

import click

from cml import git
from cml.cli.app import Application
from cml.cli.options import CmlGroup, output_option, pass_app, split_values, title_option
from cml.cli.run_options import run_source_options
from cml.errors import UsageError
from cml.report.classification import folding_note
from cml.report.data import comparison_revision
from cml.report.dvc import dvclive_sklearn_plot
from cml.report.plots.common import check_output
from cml.report.plots.confusion import MAX_PLOTTED_CLASSES, confusion_from_file
from cml.report.plots.curves import CurveKind, curve_from_file
from cml.report.plots.line import curves_from_files, curves_from_runs, line_plot, series_names
from cml.report.plots.dvc import render_dvc_plots


@click.group(cls=CmlGroup, name="plot")
def command() -> None:
    """Draw confusion matrices, ROC and precision-recall curves, training curves, and dvc.yaml's plots."""




def plot_source(function: Callable) -> Callable:
    """``[FILE]`` or ``--dvclive DIR`` (its ``plots/sklearn/`` file for this plot); the command gets ``file``."""

    @click.argument("file", required=False, type=click.Path(dir_okay=False))
    @click.option("--dvclive", metavar="DIR", help="Take the plot's data from dvclive's output folder "
                  "(plots/sklearn/*.json) instead of FILE.")
    @functools.wraps(function)
    def wrapper(*args, file, dvclive, **kwargs):
        name = click.get_current_context().command.name or ""
        if bool(file) == bool(dvclive):
            raise click.UsageError("give FILE or --dvclive DIR (one of them)")
        if dvclive:
            file = dvclive_sklearn_plot(name, dvclive)
            if not os.path.isfile(file):
                raise UsageError(f"{file} does not exist; log it with live.log_sklearn_plot(...)", parameter="dvclive")
        return function(*args, file=file, **kwargs)

    return wrapper


def y_true_option(function: Callable) -> Callable:
    """``--y-true COLUMN``."""
    return click.option("--y-true", metavar="COLUMN", help="Column of actual labels  [default: actual, y_true, …]")(function)


def base_revision_option(function: Callable) -> Callable:
    """``--rev REV``: the git revision whose version of the same file is drawn beside (or under) this one."""
    return click.option("--rev", metavar="REV", help="Compare with the same file at git revision REV  [default in CI: "
                        "the pull request's target branch; outside CI: no comparison]")(function)


def plot_base_revision(app: Application, rev: str | None) -> git.Revision | None:
    """The revision to compare with (:func:`cml.report.data.comparison_revision`), warning when CI's base branch
    is not in the clone."""
    revision, reason = comparison_revision(rev, app.environ)
    if reason:
        app.warn(reason)
    return revision


REPORT_HELP = "The Markdown file this output is appended to; links are printed relative to its folder."


def report_option(command_name: str) -> Callable[[Callable], Callable]:
    """``--report REPORT.md``, also from ``CML_PLOT_<COMMAND>_REPORT``, ``CML_PLOT_REPORT`` or ``CML_REPORT`` (a CI
    job sets it once for every plot)."""
    return click.option("--report", metavar="REPORT.md", type=click.Path(dir_okay=False), help=REPORT_HELP,
                        envvar=[f"CML_PLOT_{command_name.upper()}_REPORT", "CML_PLOT_REPORT", "CML_REPORT"])


@command.command()
@plot_source
@y_true_option
@click.option("--y-pred", metavar="COLUMN", help="Column of predicted labels  [default: predicted, y_pred, …]")
@click.option("--normalize", type=click.Choice(["true", "pred", "all"]),
              help="Show fractions of each actual class (true), predicted class (pred) or of all samples.")
@click.option("--max-classes", type=click.IntRange(min=1), default=MAX_PLOTTED_CLASSES, show_default=True,
              metavar="N", help="Draw at most N classes, the most frequent; the others are summed as 'other'.")
@base_revision_option
@output_option("confusion_matrix.png")
@title_option("Confusion matrix")
@report_option("confusion")
@pass_app
def confusion(app: Application, file, y_true, y_pred, normalize, max_classes, rev, output, title, report) -> None:
    """Confusion matrix from actual/predicted columns (DVC and dvclive layouts included).

    Correct predictions are blue and confusions orange, each on its own scale, so rare confusions show. With
    --rev (by default in CI, the pull request's target branch), a change view: the matrix and the matrix
    minus the same file's at REV, red where it got worse and blue where better (as fractions of each actual
    class when the sample counts differ).

    \b
    Examples:
      cml plot confusion predictions.csv -o plots/cm.png --report plots/report.md >> plots/report.md
      cml plot confusion --dvclive dvclive --normalize true >> report.md
      cml plot confusion predictions.csv --rev origin/main >> report.md
    """
    check_output(output)
    plot, warnings = confusion_from_file(file, output, revision=plot_base_revision(app, rev), y_true=y_true,
                                         y_pred=y_pred, normalize=normalize, title=title, max_classes=max_classes)
    for warning in warnings:
        app.warn(warning)
    if plot.details["folded"]:
        app.warn(f"{folding_note(max_classes, plot.details['classes'], output)}; raise --max-classes to draw more")
    app.markdown(plot.markdown_in(report))


def _curve_command(name: CurveKind, default_output: str, default_title: str, summary: str) -> click.Command:
    """The ``roc`` or ``pr`` command."""
    @command.command(name=name, help=summary)
    @plot_source
    @y_true_option
    @click.option("--y-score", multiple=True, metavar="COLUMN[=LABEL]",
                  help="Score column or glob (prob_*): once for a binary problem, once per class for one-vs-rest  "
                       "[default: score, y_score, prob, …, else a column per class named after it or prob_<class>]")
    @click.option("--pos-label", metavar="LABEL", help="The positive class of a binary problem; needed unless the "
                  "labels are 0/1, -1/1 or false/true. With a score column per class, draw only its curve.")
    @base_revision_option
    @output_option(default_output)
    @title_option(default_title)
    @report_option(name)
    @pass_app
    def curve(app: Application, file, y_true, y_score, pos_label, rev, output, title, report) -> None:
        check_output(output)
        plot, warnings = curve_from_file(name, file, output, revision=plot_base_revision(app, rev), title=title,
                                         y_true=y_true, y_score=split_values(y_score), pos_label=pos_label)
        for warning in warnings:
            app.warn(warning)
        app.markdown(plot.markdown_in(report))

    return curve


roc = _curve_command(
    "roc", "roc.png", "ROC curve",
    """ROC curves with AUC, from labels and scores or from dvclive's roc.json (fpr/tpr); several classes get a
    macro average, and the same FILE at --rev (in CI, the base branch) is drawn dashed.

    \b
    Examples:
      cml plot roc predictions.csv --pos-label dog -o plots/roc.png --report plots/report.md >> plots/report.md
      cml plot roc predictions.csv --y-score 'prob_*' --rev origin/main >> report.md
    """,
)
pr = _curve_command(
    "pr", "pr.png", "Precision-recall curve",
    """Precision-recall curves with average precision and the chance line (the positive rate), from scores or
    dvclive's precision_recall.json; several classes get a macro average, and the same FILE at --rev (in CI, the
    base branch) is drawn dashed.

    \b
    Examples:
      cml plot pr predictions.csv --pos-label dog -o plots/pr.png --report plots/report.md >> plots/report.md
      cml plot pr --dvclive dvclive --rev main >> report.md
    """,
)


@command.command()
@click.argument("files", nargs=-1, metavar="FILE...")
@run_source_options
@click.option("-x", "x", metavar="COLUMN", help="X column  [default: step, epoch or the row number]")
@click.option("-y", "y", multiple=True, metavar="COLUMN",
              help="Y column, or a run's metric (repeat or comma-separate)  [default: every numeric column]")
@click.option("--rev", metavar="REV", help="Overlay the same files (or the run source's base run) at git revision "
              "REV as dashed lines.")
@click.option("-o", "--output", help="Image file to write (.png, .svg or .pdf)  [default: <first file name>.png]")
@click.option("--title", default="", help="Plot title, also the image's alt text  [default: the metric names (loss, "
              "val_loss), or the file names when there are more than 3 metrics]")
@click.option("--x-label", help="X axis label  [default: the x column]")
@click.option("--y-label", default="", help="Y axis label  [default: the metric's name, or the word the metrics' "
              "names end with (loss for train/loss and val_loss)]")
@click.option("--log-y", is_flag=True, help="Logarithmic y axis.")
@report_option("line")
@pass_app
def line(app: Application, files, run_source, x, y, rev, output, title, x_label, y_label, log_y, report) -> None:
    """Training curves from CSV/TSV/JSON files (dvclive's plots/metrics/*.tsv included), or from a tracked
    run's metric histories (--mlflow-run, --mlflow-experiment, --sacred, --dvclive).

    \b
    Examples:
      cml plot line dvclive/plots/metrics/train/loss.tsv --rev origin/main >> report.md
      cml plot line log.csv -y loss,val_loss -o plots/loss.png --report plots/report.md >> plots/report.md

    Each curve is thinned for drawing to about 4,000 points with every bucket's
    extremes kept, so spikes survive and a million points draw as fast as a few
    thousand; reading a large CSV takes longer than drawing it.
    """
    if run_source.active:
        if files:
            raise click.UsageError("give FILEs or a run source, not both")
        output = output or "curves.png"
        check_output(output)
        head = run_source.head(app.environ)
        base = run_source.base(app.environ, rev) if rev or run_source.mlflow_base_run else None
        curves = curves_from_runs(head, split_values(y), base, rev or base.label if base else "base")
        plot = line_plot(curves.series, output, title or curves.title, x_label or "step", y_label or curves.y_label,
                         log_y, curves.integer_x)
        app.markdown(plot.markdown_in(report))
        return
    if not files:
        raise click.UsageError("give FILE... or a run source (--mlflow-run, --mlflow-experiment, --sacred, --dvclive)")
    names = series_names(files)
    output = output or f"{names[0].replace(os.sep, '_')}.png"
    check_output(output)
    curves = curves_from_files(files, x, split_values(y), git.resolve(rev) if rev else None)
    for path in curves.missing_at_revision:
        app.warn(f"{path} is not at {rev}; nothing to overlay for it")
    plot = line_plot(curves.series, output, title or curves.title, x_label or curves.x_name,
                     y_label or curves.y_label, log_y, curves.integer_x)
    app.markdown(plot.markdown_in(report))


@command.command(name="dvc")
@base_revision_option
@click.option("--targets", multiple=True, metavar="ID_OR_PATH",
              help="Draw only this plot: its id in dvc.yaml, a file it reads or a folder of them (repeatable)  "
                   "[default: every plot]")
@click.option("-o", "--output-dir", default="dvc_plots", show_default=True, metavar="DIR",
              help="Folder the images are written to, one PNG per plot, named after the plot ids.")
@report_option("dvc")
@pass_app
def dvc(app: Application, rev, targets, output_dir, report) -> None:
    """dvc.yaml's plots as PNG images, the base revision overlaid; one Markdown image line per plot.

    \b
    Examples:
      cml plot dvc --rev origin/main >> report.md
      cml plot dvc --targets dvclive/plots/metrics -o plots --report plots/report.md >> plots/report.md

    Plots are read as DVC 3 reads them: top-level plots: (files, folders, or named plots whose
    y maps files to columns) and stage outputs. Templates drawn: linear, simple and smooth
    (lines, the base dashed), scatter (the base hollow),
    confusion and confusion_normalized (with the base: head and head minus base), bar_horizontal and
    bar_horizontal_sorted (the base as outlines); image plots are linked as they are.
    """
    plots = render_dvc_plots(output_dir, revision=plot_base_revision(app, rev), targets=targets)
    for warning in plots.warnings:
        app.warn(warning)
    app.markdown(plots.markdown_in(report))
