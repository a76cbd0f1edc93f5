"""``cml plot confusion|roc|pr|line``: each writes an image and prints its Markdown line."""

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
from cml.report.classification import folding_note, label_pairs
from cml.report.data import load_table
from cml.report.plots import confusion_matrix
from cml.report.plots.common import check_output
from cml.report.plots.confusion import MAX_PLOTTED_CLASSES
from cml.report.plots.curves import CurveKind, curve_from_table
from cml.report.plots.line import curves_from_files, curves_from_runs, line_plot, series_names


@click.group(cls=CmlGroup, name="plot")
def command() -> None:
    """Draw confusion matrices, ROC and precision-recall curves, and training curves."""


DVCLIVE_SKLEARN_PLOTS = {"confusion": "confusion_matrix.json", "roc": "roc.json", "pr": "precision_recall.json"}


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
            file = os.path.join(dvclive, "plots", "sklearn", DVCLIVE_SKLEARN_PLOTS[name])
            if not os.path.isfile(file):
                raise UsageError(f"{file} does not exist; log it with live.log_sklearn_plot(...)", parameter="dvclive")
        return function(*args, file=file, **kwargs)

    return wrapper


def y_true_option(function: Callable) -> Callable:
    """``--y-true COLUMN``."""
    return click.option("--y-true", metavar="COLUMN", help="Column of actual labels  [default: actual, y_true, …]")(function)


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
@output_option("confusion_matrix.png")
@title_option("Confusion matrix")
@report_option("confusion")
@pass_app
def confusion(app: Application, file, y_true, y_pred, normalize, max_classes, output, title, report) -> None:
    """Confusion matrix from actual/predicted columns (DVC and dvclive layouts included).

    \b
    Examples:
      cml plot confusion predictions.csv -o plots/cm.png --report plots/report.md >> plots/report.md
      cml plot confusion --dvclive dvclive --normalize true >> report.md
    """
    check_output(output)
    actual, predicted = label_pairs(load_table(file), y_true, y_pred)
    plot = confusion_matrix(actual, predicted, output, normalize=normalize, title=title, max_classes=max_classes)
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
    @output_option(default_output)
    @title_option(default_title)
    @report_option(name)
    @pass_app
    def curve(app: Application, file, y_true, y_score, pos_label, output, title, report) -> None:
        check_output(output)
        plot = curve_from_table(name, load_table(file), output, title, y_true, split_values(y_score), pos_label)
        app.markdown(plot.markdown_in(report))

    return curve


roc = _curve_command(
    "roc", "roc.png", "ROC curve",
    """ROC curves with AUC, from labels and scores or from dvclive's roc.json (fpr/tpr).

    \b
    Examples:
      cml plot roc predictions.csv --pos-label dog -o plots/roc.png --report plots/report.md >> plots/report.md
      cml plot roc predictions.csv --y-score 'prob_*' >> report.md
    """,
)
pr = _curve_command(
    "pr", "pr.png", "Precision-recall curve",
    """Precision-recall curves with average precision, from scores or dvclive's precision_recall.json.

    \b
    Examples:
      cml plot pr predictions.csv --pos-label dog -o plots/pr.png --report plots/report.md >> plots/report.md
      cml plot pr --dvclive dvclive >> report.md
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
@click.option("--title", default="", help="Plot title, also the image's alt text.")
@click.option("--x-label", help="X axis label  [default: the x column]")
@click.option("--y-label", default="", help="Y axis label.")
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

    Up to a million points per series draw in well under a second: curves are
    thinned for drawing with every bucket's extremes kept.
    """
    if run_source.active:
        if files:
            raise click.UsageError("give FILEs or a run source, not both")
        output = output or "curves.png"
        check_output(output)
        head = run_source.head(app.environ)
        base = run_source.base(app.environ, rev) if rev or run_source.mlflow_base_run else None
        curves = curves_from_runs(head, split_values(y), base, rev or base.label if base else "base")
        title = title or head.label
        app.markdown(line_plot(curves.series, output, title, x_label or "step", y_label, log_y).markdown_in(report))
        return
    if not files:
        raise click.UsageError("give FILE... or a run source (--mlflow-run, --mlflow-experiment, --sacred, --dvclive)")
    names = series_names(files)
    output = output or f"{names[0].replace(os.sep, '_')}.png"
    check_output(output)
    curves = curves_from_files(files, x, split_values(y), git.resolve(rev) if rev else None)
    for path in curves.missing_at_revision:
        app.warn(f"{path} is not at {rev}; nothing to overlay for it")
    if not title:
        title = ", ".join(names) if len(names) <= 3 else f"{len(names)} files"
    app.markdown(line_plot(curves.series, output, title, x_label or curves.x_name, y_label, log_y).markdown_in(report))
