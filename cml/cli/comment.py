"""``cml comment create|update``: post a Markdown report on a pull request, issue or commit."""

from __future__ import annotations

import functools
import hashlib
import time

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, pass_app
from cml.errors import InputError, UsageError
from cml.fileio import read_text


@click.group(cls=CmlGroup, name="comment")
def command() -> None:
    """Post reports as pull-request, issue or commit comments."""


def forge_options(function):
    """``--repo``, ``--token``, ``--driver`` and ``--api-url``, shared by every command that talks to a forge."""

    @click.option("--repo", metavar="URL", help="Repository URL  [default: from the CI, else the 'origin' remote]")
    @click.option("--token", "--driver-token", "token", metavar="TOKEN",
                  help="API token  [default: REPO_TOKEN, repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN]")
    @click.option("--driver", type=click.Choice(["github", "gitlab", "bitbucket", "gitea"]),
                  help="Forge kind  [default: from the CI or the repository host]")
    @click.option("--api-url", metavar="URL", help="API base URL, for self-hosted forges  [default: from the CI]")
    @functools.wraps(function)
    def wrapper(*args, repo, token, driver, api_url, **kwargs):
        return function(*args, forge_settings={"repo": repo, "token": token, "driver": driver, "api_url": api_url},
                        **kwargs)

    return wrapper


def open_from_settings(app: Application, settings: dict):
    from cml.forges.registry import find_token, open_forge, repository_context

    context = repository_context(app.environ, settings["repo"], settings["driver"], settings["api_url"])
    token = find_token(settings["token"], context.driver, app.environ)
    return context, open_forge(context, token, app.environ)


def _fingerprint(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _post(app: Application, markdown_file, target, commit_sha, pr, update, watch, watermark_title, rm_watermark,
          summary, forge_settings) -> None:
    from cml.forges.delivery import append_step_summary, comment_body, deliver, resolve_target
    from cml.forges.marker import Marker

    if rm_watermark and update:
        raise UsageError("watermarks are mandatory for updatable comments; drop --rm-watermark", option="--update")
    if rm_watermark and watermark_title:
        raise UsageError("cannot be used with --rm-watermark", option="--watermark-title")
    if commit_sha:
        app.warn(f'Deprecation warning: use --target="commit/{commit_sha}" instead of --commit-sha={commit_sha}')
        target = f"commit/{commit_sha}"
    if pr:
        app.warn("Deprecation warning: use --target=pr instead of --pr")
        target = "pr"
    if not watch:
        report = read_text(markdown_file)
    context, forge = open_from_settings(app, forge_settings)
    marker = None if rm_watermark else Marker.for_run(watermark_title or "", context.workflow, context.run_id,
                                                     commit_sha or context.sha)
    resolved = resolve_target(target, forge, context)
    summary_path = app.environ.get("GITHUB_STEP_SUMMARY") if summary else None
    hint = ""
    if summary_path and context.server_url and context.run_id:
        hint = f"The full report is in the [job summary]({context.server_url}/{context.repository}/actions/runs/{context.run_id})."

    def post_once(report_text: str, known=None):
        if known is None:
            comment = deliver(forge, resolved, report_text, marker, update, app.warn, hint).comment
            if summary_path:
                append_step_summary(report_text, summary_path)
        else:
            comment = forge.update_comment(resolved, known, comment_body(report_text, forge, marker, hint)[0])
        app.output(comment.url)
        return comment

    if not watch:
        post_once(report)
        return
    _watch(app, markdown_file, post_once)


def _watch(app: Application, path: str, post_once) -> None:
    """Post once ``path`` exists, then update the same comment whenever it changes, until interrupted."""
    interval = float(app.environ.get("CML_WATCH_INTERVAL", "1"))
    app.note(f"watching {path}; press Ctrl-C to stop")
    seen = None
    comment = None
    try:
        while True:
            current = _fingerprint(path)
            if current is not None and current != seen:
                try:
                    report = read_text(path)
                except InputError as error:
                    app.warn(str(error))
                else:
                    comment = post_once(report, comment)
                    seen = current
            time.sleep(interval)
    except KeyboardInterrupt:
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
    """Post FILE as a comment and print the comment's URL."""
    _post(app, markdown_file, update=update, **options)


@command.command()
@comment_options
def update(app: Application, markdown_file, **options) -> None:
    """Post FILE, editing this label's previous report if there is one (create --update)."""
    _post(app, markdown_file, update=True, **options)
