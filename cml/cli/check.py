"""``cml check create``: attach a report to the head commit as a check."""

from __future__ import annotations

import click

from cml.actions import Connection, FileOptions, create_check
from cml.cli.app import Application
from cml.cli.forge_options import forge_options, publish_options
from cml.cli.options import CmlGroup, pass_app
from cml.forges.base import CHECK_STATUSES, CONCLUSIONS


@click.group(cls=CmlGroup, name="check")
def command() -> None:
    """Attach reports to commits as checks."""


@command.command()
@click.argument("markdown_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--title", default="CML Report", show_default=True, help="The check's name and title.")
@click.option("--status", type=click.Choice(CHECK_STATUSES), default="completed", show_default=True,
              help="The check's state; queued and in_progress are pending/running statuses on other forges.")
@click.option("--conclusion", type=click.Choice(CONCLUSIONS),
              help="The result of a completed check  [default: success]")
@click.option("--url", "details_url", metavar="URL", help="Where the check links to  [default: the CI job]")
@click.option("--head-sha", "--commit-sha", "head_sha", metavar="SHA",
              help="Commit to attach the check to  [default: the CI's head commit]")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Publish the local files and data: URIs the report links to (GitHub check runs show the report).")
@publish_options()
@forge_options
@pass_app
def create(app: Application, markdown_file, title, status, conclusion, details_url, head_sha, publish,
           publish_settings, allow_outside, strict, skip_missing, forge_settings) -> None:
    """Attach FILE to the head commit: a check run on GitHub, a commit (build) status on GitLab,
    Bitbucket and Gitea. Prints the check's URL.

    \b
    Examples:
      cml check create report.md --title "Model report" --conclusion failure
      cml check create report.md --title "Training" --status in_progress
    """
    url = create_check(markdown_file, title=title, conclusion=conclusion, status=status, details_url=details_url,
                       head_sha=head_sha, publish=publish,
                       files=FileOptions(publish_settings, allow_outside, strict, skip_missing),
                       connection=Connection(**forge_settings, environ=app.environ), warn=app.warn)
    if url:
        app.output(url)
