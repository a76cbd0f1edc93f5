"""``cml params show|diff``."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.metrics import add_show_command, no_path_option, split_revision
from cml.cli.options import CmlGroup, output_format_option, pass_app, precision_option
from cml.forges.environment import default_base_revision
from cml.report import metrics as metrics_report


@click.group(cls=CmlGroup, name="params")
def command() -> None:
    """Show and compare parameters (params.yaml and the params files dvc.yaml names)."""


add_show_command(command, "params", "Show parameters; with no FILE, params.yaml and those named in dvc.yaml.")


@command.command()
@click.argument("arguments", nargs=-1, metavar="[REV] [FILE]...")
@click.option("--head", "head_revision", metavar="REV", help="Compare REV with this revision instead of the working tree.")
@click.option("-a", "--all", "show_all", is_flag=True, help="Include unchanged parameters.")
@output_format_option
@precision_option(metrics_report.DEFAULT_PRECISION)
@no_path_option
@pass_app
def diff(app: Application, arguments, head_revision, show_all, output_format, precision, no_path) -> None:
    """Compare parameters with REV (default: the pull request's target branch in CI, else HEAD)."""
    revision, files = split_revision(arguments)
    result = metrics_report.diff_revisions(
        revision or default_base_revision(app.environ), files, head_revision, "params"
    )
    app.output(metrics_report.render_diff(result, output_format, precision, show_all, not no_path))
