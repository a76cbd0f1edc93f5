"""``cml table``."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import CmlCommand, pass_app, precision_option, split_values
from cml.report.data import load_table
from cml.report.table import render_table


@click.command(cls=CmlCommand, name="table")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--columns", multiple=True, metavar="A,B", help="Columns to show, in this order.")
@click.option("--sort", metavar="COLUMN", help="Sort rows by COLUMN (numbers numerically).")
@click.option("--descending", "--desc", is_flag=True, help="Sort in descending order.")
@click.option("--max-rows", type=click.IntRange(min=0), metavar="N", help="Show at most N rows, then a '… N more rows' line.")
@click.option("--terminal", is_flag=True, help="Print a plain-text table instead of Markdown.")
@precision_option(5)
@pass_app
def command(app: Application, file, columns, sort, descending, max_rows, terminal, precision) -> None:
    """Turn a CSV, TSV, JSON (records) or JSON-lines FILE into a Markdown table."""
    text = render_table(
        load_table(file), split_values(columns) or None, sort, descending, max_rows, precision,
        "table" if terminal else "md",
    )
    app.output(text)
