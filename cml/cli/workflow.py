"""``cml workflow rerun``: run the current CI run (GitHub workflow run, GitLab/Bitbucket pipeline) again."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, forge_options, open_forge_from_options, pass_app
from cml.errors import UsageError

DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_POLL_TIMEOUT = 300.0


@click.group(cls=CmlGroup, name="workflow")
def command() -> None:
    """Control CI runs."""


def _current_run(context) -> str | None:
    """The id of the CI run this job belongs to, when the CI is the forge's own."""
    if context.ci != context.driver:
        return None
    return context.workflow if context.driver in ("gitlab", "bitbucket") else context.run_id


def _seconds(app: Application, name: str, default: float) -> float:
    value = app.environ.get(name, "")
    try:
        seconds = float(value) if value.strip() else default
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number of seconds") from None
    if seconds < 0:
        raise UsageError(f"{name}={value!r} must not be negative")
    return seconds


@command.command()
@click.option("--id", "run_id", metavar="ID",
              help="The run to re-run  [default: this CI run: GITHUB_RUN_ID, CI_PIPELINE_ID, BITBUCKET_PIPELINE_UUID]")
@forge_options
@pass_app
def rerun(app: Application, run_id, forge_settings) -> None:
    """Re-run a CI run (this one unless --id names another); prints the run's URL.

    \b
    Examples:
      cml workflow rerun
      cml workflow rerun --id 1234567890

    GitHub cancels it if still running (waiting up to CML_POLL_TIMEOUT seconds, polling every
    CML_POLL_INTERVAL) and re-runs it; GitLab cancels and retries the pipeline; Bitbucket starts a
    new pipeline for the same target. Gitea/Forgejo have no API for it.
    """
    context, forge = open_forge_from_options(app, forge_settings)
    run_id = (run_id or "").strip() or _current_run(context)
    if not run_id:
        raise UsageError("no CI run to re-run outside its CI job; pass --id", parameter="--id")
    url = forge.rerun_workflow(run_id, poll_interval=_seconds(app, "CML_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
                               timeout=_seconds(app, "CML_POLL_TIMEOUT", DEFAULT_POLL_TIMEOUT))
    if url:
        app.output(url)
