"""``cml comment create|update``: post a Markdown report on a pull request, issue or commit."""

from __future__ import annotations

from dataclasses import dataclass

import click

from cml.actions import CommentOptions, Connection, Delivery, FileOptions, post_report, watch_report
from cml.assets.backends import PublishSettings
from cml.cli.app import Application
from cml.cli.forge_options import forge_options, publish_options
from cml.cli.options import CmlGroup, pass_app
from cml.errors import UsageError


@click.group(cls=CmlGroup, name="comment")
def command() -> None:
    """Post reports as pull-request, issue or commit comments."""


@dataclass(frozen=True)
class CommentRequest:
    """The options of ``cml comment create|update``, as click gives them."""

    markdown_file: str
    target: str
    commit_sha: str | None
    pr: bool
    update: bool
    watch: bool
    watermark_title: str
    rm_watermark: bool
    summary: bool
    publish: bool
    publish_settings: PublishSettings
    allow_outside: tuple[str, ...]
    strict: bool
    skip_missing: bool
    forge_settings: dict

    def chosen_target(self, app: Application) -> str:
        """``--target``, or what the deprecated ``--commit-sha`` and ``--pr`` ask for (with a warning)."""
        target = self.target
        if self.commit_sha:
            app.warn(f'Deprecation warning: use --target="commit/{self.commit_sha}" instead of '
                     f'--commit-sha={self.commit_sha}')
            target = f"commit/{self.commit_sha}"
        if self.pr:
            app.warn("Deprecation warning: use --target=pr instead of --pr")
            target = "pr"
        return target

    def options(self, app: Application) -> CommentOptions:
        if self.rm_watermark and self.update:
            raise UsageError("watermarks are mandatory for updatable comments; drop --rm-watermark",
                             parameter="--update")
        if self.rm_watermark and self.watermark_title:
            raise UsageError("cannot be used with --rm-watermark", parameter="--watermark-title")
        files = FileOptions(self.publish_settings, self.allow_outside, self.strict, self.skip_missing)
        return CommentOptions(self.chosen_target(app), self.update, None if self.rm_watermark else self.watermark_title,
                              self.summary, self.publish, files)


def _post(app: Application, request: CommentRequest) -> None:
    options = request.options(app)
    connection = Connection(**request.forge_settings, environ=app.environ)
    if not request.watch:
        delivery = post_report(request.markdown_file, target=options.target, update=options.update,
                               watermark_title=options.watermark_title, summary=options.summary,
                               publish=options.publish, files=options.files, connection=connection, warn=app.warn)
        app.output(delivery.url)
        return

    def print_url(delivery: Delivery) -> None:
        app.output(delivery.url)

    watch_report(request.markdown_file, print_url, options=options,
                 interval=float(app.environ.get("CML_WATCH_INTERVAL", "1")), connection=connection, warn=app.warn,
                 note=app.note)


def comment_options(function):
    decorators = [
        click.argument("markdown_file", metavar="FILE", type=click.Path(dir_okay=False)),
        click.option("--target", default="auto", show_default=True,
                     help="auto, pr, commit, pr/N, issue/N or commit/SHA (auto: the pull request, else the commit)."),
        click.option("--commit-sha", "--head-sha", "commit_sha", hidden=True, help="Deprecated: --target commit/SHA."),
        click.option("--pr", is_flag=True, hidden=True, help="Deprecated: --target pr."),
        click.option("--watch", is_flag=True, help="Keep running: post when FILE appears, update it whenever it changes."),
        click.option("--watermark-title", default="", metavar="TEXT",
                     help="Label that tells reports apart; {workflow} and {run} are replaced."),
        click.option("--rm-watermark", is_flag=True, help="Post without the invisible marker (the comment cannot be updated later)."),
        click.option("--publish/--no-publish", default=True, show_default=True,
                     help="Publish the local files and data: URIs the report links to, and link their URLs."),
        publish_options(),
        click.option("--summary/--no-summary", default=True, show_default=True,
                     help="Also append the report to the GitHub Actions job summary ($GITHUB_STEP_SUMMARY)."),
        forge_options,
        pass_app,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@command.command()
@comment_options
@click.option("--update", is_flag=True, help="Edit this label's previous report instead of posting a new one.")
def create(app: Application, **options) -> None:
    """Post FILE as a comment and print the comment's URL.

    \b
    Examples:
      cml comment create report.md
      cml comment create report.md --target issue/12 --watermark-title "{workflow}"
    """
    _post(app, CommentRequest(**options))


@command.command()
@comment_options
def update(app: Application, **options) -> None:
    """Post FILE, editing this label's previous report if there is one (create --update).

    \b
    Examples:
      cml comment update report.md
      cml comment update report.md --watermark-title "{workflow}"

    When several reports of the label exist (jobs that posted at the same time), the oldest
    is edited and the others are deleted.
    """
    _post(app, CommentRequest(update=True, **options))
