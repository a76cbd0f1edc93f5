"""Setting a CI clone up for cml: identity, push authentication, history, safe directory."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cml.actions.connection import Note, Warn, log_note, log_warning
from cml.actions.pulls import Committer
from cml.ci import detect
from cml.secrets import register_secret
from cml.workspace import Workspace, mark_safe_directory, setup_git_authentication
from cml.workspace import prepare_repository as prepare_clone


def prepare_repository(
    *,
    fetch_depth: int | None = None,
    remote: str = "origin",
    committer: Committer | None = None,
    token: str | None = None,
    driver: str | None = None,
    cwd: str | None = None,
    environ: Mapping[str, str] | None = None,
    note: Note | None = None,
    warn: Warn | None = None,
) -> list[str]:
    """Get the clone at ``cwd`` (by default the current folder) ready for cml, as ``cml repo prepare`` does, and
    return one line per thing done (each also given to ``note``).

    In CI, the workspace is marked as a safe git directory first. In CI (or with a ``token`` or ``driver``), later
    ``git push`` and ``git fetch`` to ``remote``'s forge authenticate with the token in ``REPO_TOKEN`` (or the
    forge's own variable) of their environment, through a credential helper; ``token`` also authenticates this
    call's own fetches. The commit identity is set in the repository's own config. ``fetch_depth``: ``None`` fetches
    just the pull request's base branch when it is missing, ``0`` the whole history, ``N`` N commits of every branch.
    """
    environ = os.environ if environ is None else environ
    note, warn = note or log_note, warn or log_warning
    committer = committer or Committer()
    done: list[str] = []

    def report(line: str) -> None:
        done.append(line)
        note(line)

    if token:
        register_secret(token)
    safe = mark_safe_directory(environ)  # first: git refuses other users' checkouts until then
    if safe:
        report(safe)
    workspace = Workspace.find(cwd)
    if detect(environ).in_ci or token or driver:  # a developer's clone keeps its own credential helpers
        setup_git_authentication(workspace, environ, remote, driver, token, report, warn)
    for line in prepare_clone(workspace, environ, committer.name, committer.email, remote, fetch_depth):
        report(line)
    return done
