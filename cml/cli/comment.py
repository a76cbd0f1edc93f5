"""``cml comment create|update``: post a Markdown report on a pull request, issue or commit."""

from __future__ import annotations

import click

from cml.assets.content import AssetError
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
from cml.errors import InputError, UsageError
from cml.secrets import SecretInContentError


@click.group(cls=CmlGroup, name="comment")
def command() -> None:
    """Post reports as pull-request, issue or commit comments."""


def _post(app: Application, markdown_file, target, commit_sha, pr, update, watch, watermark_title, rm_watermark,
          summary, publish, publish_settings, allow_outside, strict, skip_missing, forge_settings) -> None:
    from cml.forges.delivery import ReportPoster, job_summary_link, resolve_target, watch_file
    from cml.forges.marker import Marker

    if rm_watermark and update:
        raise UsageError("watermarks are mandatory for updatable comments; drop --rm-watermark", parameter="--update")
    if rm_watermark and watermark_title:
        raise UsageError("cannot be used with --rm-watermark", parameter="--watermark-title")
    if commit_sha:
        app.warn(f'Deprecation warning: use --target="commit/{commit_sha}" instead of --commit-sha={commit_sha}')
        target = f"commit/{commit_sha}"
    if pr:
        app.warn("Deprecation warning: use --target=pr instead of --pr")
        target = "pr"
    report = None if watch else read_outgoing_report(app, markdown_file, allow_outside)
    files = report_files(app, markdown_file, publish_settings, allow_outside, strict, skip_missing,
                         lambda: (forge, context, issue)) if publish else None
    # Bad links fail (--strict) or are warned about here, before any request is made.
    references = files.references(report) if files is not None and report is not None else None
    context, forge = open_forge_from_options(app, forge_settings)
    resolved = resolve_target(target, forge, context)
    issue = int(resolved.ref) if resolved.kind in ("pr", "issue") else None
    marker = None if rm_watermark else Marker.for_run(watermark_title, context.workflow, context.run_id,
                                                     commit_sha or context.sha)
    summary_path = app.environ.get("GITHUB_STEP_SUMMARY") if summary else None
    hint = job_summary_link(context) if summary_path else (files.full_report_link if files else "")
    poster = ReportPoster(forge, resolved, marker, update, app.warn, summary_path, hint, origin=markdown_file)
    if report is not None:
        app.output(poster.post(files.publish(report, references) if files else report).url)
        return

    def on_change(_text: str) -> None:
        try:
            # Read again through the same checks as without --watch: the watcher only notices changes.
            text = read_outgoing_report(app, markdown_file, allow_outside)
            app.output(poster.post(files.publish(text) if files else text).url)
        except (InputError, AssetError, SecretInContentError) as error:
            app.warn(f"{error}; waiting for the next change")

    app.note(f"watching {markdown_file}; press Ctrl-C to stop")
    watch_file(markdown_file, on_change, app.warn, float(app.environ.get("CML_WATCH_INTERVAL", "1")),
               dependencies=files.fingerprint if files else None)
    app.note("stopped watching")


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
def create(app: Application, markdown_file, update, **options) -> None:
    """Post FILE as a comment and print the comment's URL.

    \b
    Examples:
      cml comment create report.md
      cml comment create report.md --target issue/12 --watermark-title "{workflow}"
    """
    _post(app, markdown_file, update=update, **options)


@command.command()
@comment_options
def update(app: Application, markdown_file, **options) -> None:
    """Post FILE, editing this label's previous report if there is one (create --update).

    \b
    Examples:
      cml comment update report.md
      cml comment update report.md --watermark-title "{workflow}"

    When several reports of the label exist (jobs that posted at the same time), the oldest
    is edited and the others are deleted.
    """
    _post(app, markdown_file, update=True, **options)
