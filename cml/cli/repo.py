"""``cml repo prepare`` (also ``cml ci``): set a CI clone up for cml."""

from __future__ import annotations

import click

from cml.cli.app import Application
from cml.cli.options import CmlCommand, CmlGroup, pass_app
from cml.cli.pr import git_identity_options


@click.group(cls=CmlGroup, name="repo")
def command() -> None:
    """Prepare the CI's git clone."""


def _prepare(app: Application, fetch_depth, unshallow, remote, user_email, user_name) -> None:
    from cml.workspace import Workspace, mark_safe_directory, prepare_repository

    if unshallow:
        app.warn("--unshallow is deprecated; use --fetch-depth 0")
        fetch_depth = 0
    safe = mark_safe_directory(app.environ)  # first: git refuses other users' checkouts until then
    for line in ([safe] if safe else []) + prepare_repository(Workspace.find(), app.environ, user_name, user_email,
                                                              remote, fetch_depth):
        app.note(line)


def prepare_options(function):
    function = git_identity_options(function)
    function = click.option("--remote", default="origin", show_default=True, help="Git remote to fetch from.")(function)
    function = click.option("--unshallow", is_flag=True, hidden=True, help="Deprecated: --fetch-depth 0.")(function)
    return click.option("--fetch-depth", type=click.IntRange(min=0), metavar="N",
                        help="0: fetch the whole history; N: deepen every branch to N commits  "
                             "[default: fetch only the pull request's base branch, if missing]")(function)


@command.command()
@prepare_options
@pass_app
def prepare(app: Application, **options) -> None:
    """Set the commit identity (this repository only), fetch what `metrics diff` needs, and in CI mark
    the workspace as a safe git directory."""
    _prepare(app, **options)


@click.command(cls=CmlCommand, name="ci")
@prepare_options
@pass_app
def ci(app: Application, **options) -> None:
    """Same as `cml repo prepare` (iterative/cml's name)."""
    _prepare(app, **options)
