"""``cml repo prepare`` (also ``cml ci``): set a CI clone up for cml."""

from __future__ import annotations

import click

from cml.actions import Committer, prepare_repository
from cml.cli.app import Application
from cml.cli.options import CmlCommand, CmlGroup, pass_app
from cml.cli.pr import git_identity_options
from cml.forges.registry import DRIVERS


@click.group(cls=CmlGroup, name="repo")
def command() -> None:
    """Prepare the CI's git clone."""


def _prepare(app: Application, fetch_depth, unshallow, remote, user_email, user_name, token, driver) -> None:
    if unshallow:
        app.warn("--unshallow is deprecated; use --fetch-depth 0")
        fetch_depth = 0
    prepare_repository(fetch_depth=fetch_depth, remote=remote, committer=Committer(user_name, user_email), token=token,
                       driver=driver, environ=app.environ, note=app.note, warn=app.warn)


def prepare_options(function):
    """The options of ``cml repo prepare`` and ``cml ci``."""
    function = git_identity_options(function)
    function = click.option("--driver", type=click.Choice(DRIVERS),
                            help="Forge kind, for the user name git sends with the token  "
                                 "[default: from the CI or the remote's host]")(function)
    function = click.option("--token", "--driver-token", "token", metavar="TOKEN",
                            help="Token for this run's fetches; later git commands read theirs from REPO_TOKEN, "
                                 "repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN or GITEA_TOKEN")(function)
    function = click.option("--remote", default="origin", show_default=True, help="Git remote to fetch from.")(function)
    function = click.option("--unshallow", is_flag=True, hidden=True, help="Deprecated: --fetch-depth 0.")(function)
    return click.option("--fetch-depth", type=click.IntRange(min=0), metavar="N",
                        help="0: fetch the whole history; N: deepen every branch to N commits  "
                             "[default: fetch only the pull request's base branch, if missing]")(function)


@command.command()
@prepare_options
@pass_app
def prepare(app: Application, **options) -> None:
    """Set the commit identity (this repository only), set git up to push with the job's token, fetch what
    `metrics diff` needs, and in CI mark the workspace as a safe git directory.

    \b
    Examples:
      cml repo prepare --fetch-depth 0
      cml repo prepare --user-name "Model Bot" --user-email bot@example.com

    In CI (or with --token or --driver), later `git push` and `git fetch` to the remote's forge authenticate with
    the token in REPO_TOKEN (or repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN; on GitLab
    else CI_JOB_TOKEN) of their own environment, through a git credential helper: no token is written to
    .git/config or the remote URL."""
    _prepare(app, **options)


@click.command(cls=CmlCommand, name="ci")
@prepare_options
@pass_app
def ci(app: Application, **options) -> None:
    """Same as `cml repo prepare` (iterative/cml's name).

    \b
    Examples:
      cml ci
      cml ci --fetch-depth 0

    In CI (or with --token or --driver), later `git push` and `git fetch` to the remote's forge authenticate with
    the token in REPO_TOKEN (or repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN; on GitLab
    else CI_JOB_TOKEN) of their own environment, through a git credential helper: no token is written to
    .git/config or the remote URL."""
    _prepare(app, **options)
