"""``cml demo``."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import CmlCommand, pass_app
from cml.demo import run_demo


@click.command(cls=CmlCommand, name="demo")
@click.argument("directory", default="cml-demo", type=click.Path(file_okay=False))
@pass_app
def command(app: Application, directory) -> None:
    """Train a small classifier on bundled data and write a full report into DIRECTORY.

    \b
    Examples:
      cml demo
      cml demo /tmp/cml-demo

    Nothing is downloaded and no forge or credentials are needed: the result is
    metrics.json, plots, report.md and a self-contained report.html.
    """
    result = run_demo(directory)
    for path in result.files:
        app.output(path)
    app.note(f"Open {result.files[-1]} in a browser to read the report.")
