"""``cml params show|diff``."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.metrics import (
    DEFAULT_PRECISION,
    DOCUMENT_LIMITS,
    add_show_command,
    diff_result,
    no_path_option,
    print_result,
)
from cml.cli.options import CmlGroup, output_format_option, pass_app, precision_option
from cml.cli.run_options import run_source_options


@click.group(cls=CmlGroup, name="params",
             help=f"Show and compare parameters (params.yaml and the params files dvc.yaml names). {DOCUMENT_LIMITS}")
def command() -> None:
    """The ``params`` group; its help text names the limits."""


add_show_command(command, "params", "Show parameters; with no FILE, params.yaml and those named in dvc.yaml. "
                 "With --mlflow-run, --mlflow-experiment, --sacred or --dvclive, a tracked run's.",
                 "  cml params show --md >> report.md\n  cml params show params.yaml --json")


@command.command()
@click.argument("arguments", nargs=-1, metavar="[REV] [FILE]...")
@run_source_options
@click.option("--head", "head_revision", metavar="REV", help="Compare REV with this revision instead of the working tree.")
@click.option("-a", "--all", "show_all", is_flag=True, help="Include unchanged parameters.")
@output_format_option
@precision_option(DEFAULT_PRECISION)
@no_path_option
@pass_app
def diff(app: Application, arguments, run_source, head_revision, show_all, output_format, precision, no_path) -> None:
    """Compare parameters with REV (default: the pull request's target branch in CI, else HEAD), or a tracked
    run's with its base run (see cml metrics diff).

    \b
    Examples:
      cml params diff --md >> report.md
      cml params diff origin/main params.yaml --all --json
    """
    from cml.report import metrics as metrics_report

    result = diff_result(app, arguments, head_revision, run_source, "params")
    print_result(app, metrics_report.render_diff(result, output_format, precision, show_all, not no_path),
                 output_format)
