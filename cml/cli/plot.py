"""``cml plot confusion|roc|pr|line``: each writes an image and prints its Markdown line."""

from __future__ import annotations

import os

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, output_option, pass_app, split_values, title_option
from cml.errors import InputError
from cml.report.classification import ACTUAL_COLUMNS, label_pairs, pick_column
from cml.report.data import Table, load_table

SCORE_COLUMNS = ("score", "y_score", "prob", "probability", "proba", "prediction_score")
SCORE_PREFIXES = ("score_", "prob_", "proba_", "probability_", "y_score_")


@click.group(cls=CmlGroup, name="plot")
def command() -> None:
    """Draw confusion matrices, ROC and precision-recall curves, and training curves."""


def y_true_option(function):
    return click.option("--y-true", metavar="COLUMN", help="Column of actual labels  [default: actual, y_true, …]")(function)


@command.command()
@click.argument("file", type=click.Path(dir_okay=False))
@y_true_option
@click.option("--y-pred", metavar="COLUMN", help="Column of predicted labels  [default: predicted, y_pred, …]")
@click.option("--normalize", type=click.Choice(["true", "pred", "all"]),
              help="Show fractions of each actual class (true), predicted class (pred) or of all samples.")
@output_option("confusion_matrix.png")
@title_option("Confusion matrix")
@pass_app
def confusion(app: Application, file, y_true, y_pred, normalize, output, title) -> None:
    """Confusion matrix from actual/predicted columns (DVC and dvclive layouts included)."""
    from cml.report.plots import confusion_matrix
    from cml.report.plots.common import check_output

    check_output(output)
    actual, predicted = label_pairs(load_table(file), y_true, y_pred)
    app.output(confusion_matrix(actual, predicted, output, normalize=normalize, title=title).markdown)


def _score_label(column: str, truth_labels: set[str]) -> str:
    if column in truth_labels:
        return column
    for prefix in SCORE_PREFIXES:
        if column.startswith(prefix) and column[len(prefix):] in truth_labels:
            return column[len(prefix):]
    return column


def _scores(table: Table, y_true: str | None, y_score: tuple[str, ...]):
    """Actual labels and scores: one array (binary) or ``{label: array}`` (one-vs-rest)."""
    from cml.report.plots.common import numeric_array

    truth_column = pick_column(table, y_true, ACTUAL_COLUMNS, "--y-true")
    truth = table.labels(truth_column, "--y-true")
    columns = list(y_score) or [pick_column(table, None, SCORE_COLUMNS, "--y-score")]
    if len(columns) == 1 and "=" not in columns[0]:
        return truth, numeric_array(table, columns[0], "--y-score")
    distinct = set(truth)
    scores = {}
    for spec in columns:
        column, _, label = spec.partition("=")
        scores[label or _score_label(column, distinct)] = numeric_array(table, column, "--y-score")
    return truth, scores


def _curve_command(name: str, point_columns: tuple[str, str], default_output: str, default_title: str, summary: str):
    @command.command(name=name, help=summary)
    @click.argument("file", type=click.Path(dir_okay=False))
    @y_true_option
    @click.option("--y-score", multiple=True, metavar="COLUMN[=LABEL]",
                  help="Score column: once for a binary problem, once per class for one-vs-rest  "
                       "[default: score, y_score, prob, …]")
    @output_option(default_output)
    @title_option(default_title)
    @pass_app
    def curve(app: Application, file, y_true, y_score, output, title) -> None:
        from cml.report import plots
        from cml.report.plots.common import check_output, numeric_array

        check_output(output)
        table = load_table(file)
        y_score = split_values(y_score)
        first, second = point_columns
        if not y_score and not y_true and first in table.data and second in table.data:
            draw_points = plots.roc_curve_from_points if name == "roc" else plots.pr_curve_from_points
            plot = draw_points(numeric_array(table, first), numeric_array(table, second), output, title)
        else:
            truth, scores = _scores(table, y_true, y_score)
            draw = plots.roc_curve if name == "roc" else plots.pr_curve
            plot = draw(truth, scores, output, title)
        app.output(plot.markdown)

    return curve


roc = _curve_command(
    "roc", ("fpr", "tpr"), "roc.png", "ROC curve",
    "ROC curves with AUC, from labels and scores or from dvclive's roc.json (fpr/tpr).",
)
pr = _curve_command(
    "pr", ("precision", "recall"), "pr.png", "Precision-recall curve",
    "Precision-recall curves with average precision, from scores or dvclive's precision_recall.json.",
)


def _series_names(paths: list[str]) -> list[str]:
    """Short names for files: their paths without the common folder and the extension."""
    stems = [os.path.splitext(os.path.normpath(p))[0] for p in paths]
    if len(stems) == 1:
        return [os.path.basename(stems[0])]
    common = os.path.commonpath([os.path.abspath(s) for s in stems])
    return [os.path.relpath(os.path.abspath(s), common) if os.path.abspath(s) != common else os.path.basename(s) for s in stems]


def _x_values(table: Table, x: str | None):
    import numpy as np

    from cml.report.plots.common import numeric_array

    if x:
        return x, numeric_array(table, x, "-x")
    for candidate in ("step", "epoch", "iteration", "x"):
        if candidate in table.data:
            return candidate, numeric_array(table, candidate)
    return "row", np.arange(len(table), dtype=float)


def _y_columns(table: Table, x_name: str, ys: tuple[str, ...]) -> list[str]:
    from cml.report.plots.common import numeric_array

    if ys:
        for name in ys:
            table.column(name, "-y")
        return list(ys)
    found = []
    for name in table.columns:
        if name in (x_name, "timestamp"):
            continue
        try:
            numeric_array(table, name)
        except InputError:
            continue
        found.append(name)
    if not found:
        raise InputError(table.path, "has no numeric column to plot; name one with -y")
    return found


@command.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("-x", "x", metavar="COLUMN", help="X column  [default: step, epoch or the row number]")
@click.option("-y", "y", multiple=True, metavar="COLUMN", help="Y column (repeat or comma-separate)  [default: every numeric column]")
@click.option("--rev", metavar="REV", help="Overlay the same files at git revision REV as dashed lines.")
@click.option("-o", "--output", help="Image file to write (.png, .svg or .pdf)  [default: <first file name>.png]")
@click.option("--title", default="", help="Plot title, also the image's alt text.")
@click.option("--x-label", help="X axis label  [default: the x column]")
@click.option("--y-label", default="", help="Y axis label.")
@click.option("--log-y", is_flag=True, help="Logarithmic y axis.")
@pass_app
def line(app: Application, files, x, y, rev, output, title, x_label, y_label, log_y) -> None:
    """Training curves from CSV/TSV/JSON files (dvclive's plots/metrics/*.tsv included).

    Up to a million points per series draw in well under a second: curves are
    thinned for drawing with every bucket's extremes kept.
    """
    from cml import git
    from cml.report.plots import Series, line_plot
    from cml.report.plots.common import check_output, numeric_array

    names = _series_names(list(files))
    output = output or f"{names[0].replace(os.sep, '_')}.png"
    check_output(output)
    ys = split_values(y)
    revision = git.resolve(rev) if rev else None
    base_files = revision.read_files(files) if revision else {}
    series = []
    x_name = "step"
    for path, name in zip(files, names):
        tables = [(load_table(path), False)]
        if revision:
            data = base_files[os.fspath(path)]
            if data is None:
                app.warn(f"{path} is not at {rev}; nothing to overlay for it")
            else:
                tables.append((load_table(path, data, label=f"{path} (at {rev})"), True))
        head_table = tables[0][0]
        x_name, _ = _x_values(head_table, x)
        columns = _y_columns(head_table, x_name, ys)
        for column in columns:
            label = column if len(files) == 1 else name if len(columns) == 1 else f"{name}: {column}"
            for table, dashed in tables:
                if column not in table.data:
                    continue
                _, xs = _x_values(table, x)
                series.append(Series(f"{label} ({rev})" if dashed else label, xs, numeric_array(table, column, "-y"),
                                     dashed=dashed, color_key=label))
    if not title:
        title = ", ".join(names) if len(names) <= 3 else f"{len(names)} files"
    plot = line_plot(series, output, title, x_label or x_name, y_label, log_y)
    app.output(plot.markdown)
