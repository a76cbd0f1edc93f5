"""``cml workflow rerun``: run the current CI run (GitHub workflow run, GitLab/Bitbucket pipeline) again."""

from __future__ import annotations

import click

from cml.actions import Connection, rerun_workflow
from cml.cli.app import Application
from cml.cli.forge_options import forge_options
from cml.cli.options import CmlGroup, pass_app


@click.group(cls=CmlGroup, name="workflow")
def command() -> None:
    """Control CI runs."""


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
    url = rerun_workflow(run_id, connection=Connection(**forge_settings, environ=app.environ))
    if url:
        app.output(url)
