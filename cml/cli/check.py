"""``cml check create``: attach a report to the head commit as a check."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import (
    CmlGroup,
    forge_options,
    open_forge_from_options,
    pass_app,
    publish_options,
    read_outgoing_report,
    report_files,
)
from cml.errors import UsageError
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
    from cml.forges.base import Check

    if conclusion and status != "completed":
        raise UsageError(f"only a completed check has one (this one is {status}); drop it or pass --status completed",
                         parameter="--conclusion")
    report = read_outgoing_report(app, markdown_file, allow_outside)
    context, forge = open_forge_from_options(app, forge_settings)
    sha = head_sha or context.sha
    if not sha:
        raise UsageError("cannot tell which commit to attach the check to; pass --head-sha", parameter="--head-sha")
    if publish and forge.check_shows_report:
        report = report_files(app, markdown_file, publish_settings, allow_outside, strict, skip_missing,
                              lambda: (forge, context, None)).publish(report)
    details_url = details_url or app.environ.get("CI_JOB_URL") or context.actions_run_url
    url = forge.publish_check(Check(sha, title, report, conclusion or "success", details_url, status))
    if url:
        app.output(url)
