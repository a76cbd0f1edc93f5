"""``cml report preview``."""

from __future__ import annotations

import os

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, pass_app
from cml.fileio import write_atomic
from cml.report.preview import preview_file


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
