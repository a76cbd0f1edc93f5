"""``cml pr create``: commit files to a new branch and open a pull request for them."""

from __future__ import annotations

import click

from cml.actions import Committer, Connection, open_pull_request
from cml.actions.pulls import DEFAULT_USER_EMAIL, DEFAULT_USER_NAME, MergeMethod
from cml.cli.app import Application
from cml.cli.forge_options import forge_options
from cml.cli.options import DefaultCommandGroup, pass_app
from cml.errors import UsageError


class PrGroup(DefaultCommandGroup):
    """``cml pr FILE…`` (iterative/cml's older form) is ``cml pr create FILE…``."""

    default_command = "create"


@click.group(cls=PrGroup, name="pr")
def command() -> None:
    """Open pull requests with the files a CI job produced."""


def git_identity_options(function):
    """``--user-name`` and ``--user-email`` for the commits cml makes."""
    function = click.option("--user-email", default=DEFAULT_USER_EMAIL, show_default=True,
                            help="Committer e-mail.")(function)
    return click.option("--user-name", default=DEFAULT_USER_NAME, show_default=True, help="Committer name.")(function)


def merge_method(merge: bool, rebase: bool, squash: bool) -> MergeMethod | None:
    """The one of ``--merge``, ``--rebase`` and ``--squash`` that was given, if any."""
    flags: tuple[tuple[MergeMethod, bool], ...] = (("merge", merge), ("rebase", rebase), ("squash", squash))
    methods = [name for name, chosen in flags if chosen]
    if len(methods) > 1:
        raise UsageError("choose one of --merge, --rebase and --squash", parameter=f"--{methods[1]}")
    return methods[0] if methods else None


@command.command()
@click.argument("paths", nargs=-1, metavar="[PATH|GLOB]...")
@click.option("--remote", default="origin", show_default=True, help="Git remote to push to.")
@click.option("--branch", help="Branch to create  [default: <target>-cml-pr-<short sha>]")
@click.option("--target-branch", help="Branch the pull request merges into  [default: the CI's branch, else the current one]")
@click.option("--title", help="Pull request title  [default: CML PR for <target> <short sha>]")
@click.option("--body", help="Pull request description.")
@click.option("--message", help="Commit message  [default: CML PR for <short sha>]")
@click.option("--skip-ci", is_flag=True, help="Add [skip ci] to the commit message.")
@click.option("--merge", "--auto-merge", "merge", is_flag=True, help="Turn on auto-merge (a merge commit), or merge now.")
@click.option("--rebase", is_flag=True, help="Turn on auto-merge by rebase, or merge now.")
@click.option("--squash", is_flag=True, help="Turn on auto-merge by squash, or merge now.")
@click.option("--force-new", is_flag=True, help="If the branch exists with other changes, use a new suffixed branch.")
@click.option("--md", is_flag=True, help="Print a Markdown link instead of the URL.")
@git_identity_options
@forge_options
@pass_app
def create(app: Application, merge, rebase, squash, md, user_email, user_name, forge_settings, **options) -> None:
    """Commit PATHs (every change when none are given) to a new branch, push it, and open a pull request
    into the current branch. Running it again prints the same pull request.

    \b
    Examples:
      cml pr create "**/*.json" "**/*.png" --md >> report.md
      cml pr create models/ --squash --title "Retrained model"

    Globs are matched as iterative/cml matched them, against the changed files under the current folder: `*`
    within one folder, `**/` at every depth (the top level too), `{a,b}`, dotfiles, a folder for everything in it,
    `!GLOB` to leave files out. Quote them so the shell does not expand them."""
    # The other options (paths, remote, branch, target_branch, title, body, message, skip_ci, force_new) are
    # open_pull_request's parameters of the same names.
    result = open_pull_request(merge_method=merge_method(merge, rebase, squash),
                               committer=Committer(user_name, user_email),
                               connection=Connection(**forge_settings, environ=app.environ), note=app.note, **options)
    if result.pull is None:
        app.warn(result.note)  # as iterative/cml did: nothing to do is not a failure, but must be seen
        return
    app.note(result.note)
    if md:
        app.markdown(f"[CML's {result.term}]({result.pull.url})")
    else:
        app.output(result.pull.url)
