"""``cml table``."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import CmlCommand, pass_app, precision_option, split_values
from cml.report.data import MAX_TABLE_BYTES, load_table
from cml.report.table import render_table


@click.command(cls=CmlCommand, name="table", help=(
    f"Turn a CSV, TSV, JSON (records) or JSON-lines FILE of up to {MAX_TABLE_BYTES // 2**20} MiB into a Markdown "
    "table. HTML in cells is shown as text, never as markup.\n\n"
    "\b\nExamples:\n  cml table results.csv --sort f1 --desc --max-rows 20 >> report.md\n"
    "  cml table runs.json --columns name,accuracy,loss --precision 3"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--columns", multiple=True, metavar="A,B", help="Columns to show, in this order.")
@click.option("--sort", metavar="COLUMN", help="Sort rows by COLUMN (numbers numerically).")
@click.option("--descending", "--desc", is_flag=True, help="Sort in descending order.")
@click.option("--max-rows", type=click.IntRange(min=0), metavar="N", help="Show at most N rows, then a '… N more rows' line.")
@click.option("--terminal", is_flag=True, help="Print a plain-text table instead of Markdown.")
@precision_option(5)
@pass_app
def command(app: Application, file, columns, sort, descending, max_rows, terminal, precision) -> None:
    """Print FILE as a Markdown (or plain-text) table; the help text is built with the size limit above."""
    table, shown = load_table(file), split_values(columns) or None
    for name in shown or ():  # the options name a missing column, before the library would by its parameter
        table.column(name, "--columns")
    if sort:
        table.column(sort, "--sort")
    text = render_table(table, shown, sort, descending, max_rows, precision, "table" if terminal else "md")
    if terminal:
        app.output(text)
    else:
        app.markdown(text)
