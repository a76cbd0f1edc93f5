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
    """Build a small ML project with git history in DIRECTORY and write its full report (cml report create).

    \b
    Examples:
      cml demo
      cml demo /tmp/cml-demo

    Nothing is downloaded and no forge or credentials are needed. DIRECTORY becomes a
    git repository whose main branch holds five training runs; the working tree holds
    the run a pull request would bring. The report compares it with main (metrics,
    params, dvc.yaml's plots, confusion matrix, ROC and PR curves) and shows the metric
    history: report.md with its images, and a self-contained report.html. A previous
    demo in DIRECTORY is replaced; any other non-empty folder is refused.
    """
    result = run_demo(directory)
    for path in result.files:
        app.output(path)
    app.note(f"Open {result.files[-1]} in a browser to read the report.")
