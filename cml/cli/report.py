"""``cml report create|preview``."""

from __future__ import annotations

import os

import click

from cml.ci import default_base_revision
from cml.cli.app import Application
from cml.cli.options import CmlGroup, pass_app
from cml.fileio import write_atomic
from cml.report.builder import Report
from cml.report.preview import preview_file
from cml.report.standard import default_plots_dir, load_settings


@click.group(cls=CmlGroup, name="report")
def command() -> None:
    """Work with Markdown reports."""


@command.command()
@click.argument("markdown_file", type=click.Path(dir_okay=False), metavar="FILE")
@click.option("-o", "--output", help="HTML file to write  [default: FILE with .html]")
@click.option("--allow-outside", multiple=True, metavar="FOLDER", type=click.Path(file_okay=False),
              help="Also inline images from FOLDER (by default only the report's folder and the CI workspace).")
@pass_app
def preview(app: Application, markdown_file, output, allow_outside) -> None:
    """Render FILE as GitHub does, sanitised, into one self-contained HTML file (images inlined, works offline).

    \b
    Examples:
      cml report preview report.md
      cml report preview report.md -o public/index.html --allow-outside ../plots
    """
    output = output or os.path.splitext(markdown_file)[0] + ".html"
    if os.path.abspath(output) == os.path.abspath(markdown_file):
        raise click.BadParameter("must differ from the Markdown file", param_hint="--output")
    page = preview_file(markdown_file, app.environ, allow_outside)
    for warning in page.warnings:
        app.warn(f"{markdown_file}: {warning}")
    write_atomic(output, page.html)
    app.output(output)


@command.command()
@click.option("-o", "--output", default="report.md", show_default=True, type=click.Path(dir_okay=False),
              help="Report to write: Markdown, or a self-contained HTML page when it ends in .html.")
@click.option("--rev", metavar="REV", help="Compare with git revision REV  [default: the settings' rev, else the pull "
              "request's target branch in CI, else HEAD]")
@click.option("--config", type=click.Path(dir_okay=False), metavar="FILE",
              help="Read the report settings from FILE (TOML with [tool.cml.report], or YAML with 'report:')  "
                   "[default: pyproject.toml or cml.yaml in the current folder]")
@click.option("--plots-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Folder for the images, linked relative to the report  [default: <report name>_plots beside it]")
@pass_app
def create(app: Application, output, rev, config, plots_dir) -> None:
    """Build the standard report from what the project has: metrics, params, plots, confusion, roc, pr, history.

    \b
    Examples:
      cml report create && cml comment update report.md
      cml report create -o results/report.md --rev origin/main --config ci/report.yaml

    Each block needs its inputs (metrics and params files, dvc.yaml's plots or dvclive's
    curves, a predictions.csv/.tsv/.json with labels and scores, git history); a block
    without them is left out, with one line on stderr saying why. Choose and order the
    blocks, and set the quality gates (fail_on), under [tool.cml.report] in pyproject.toml
    or report: in cml.yaml. A failed gate exits 2 after the report is written.
    """
    settings = load_settings(config)
    base = rev or settings.rev or default_base_revision(app.environ)
    report = Report.standard(plots_dir or default_plots_dir(output), rev=base, config=settings)
    for note in report.notes:
        app.warn(note)
    if output.lower().endswith((".html", ".htm")):
        report.write_html(output, raise_on_gates=False)
    else:
        report.write(output, raise_on_gates=False)
    app.output(output)
    report.check_gates()
