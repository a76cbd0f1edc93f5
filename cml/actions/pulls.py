"""``cml pr create``: commit files to a new branch, push it, and open a pull request — idempotently.

A retried CI job runs the same command again; it must find the branch it pushed
and the pull request it opened instead of making second ones. The commit is made
in a private index (the user's branch, index and files are untouched), the push
never forces, and a pull request that cannot be opened takes its new branch with it.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cml.actions.connection import Connection, Note, log_note
from cml.ci import RepositoryContext
from cml.errors import CmlError, GitError, UsageError
from cml.forges.base import Forge, PullRequest
from cml.workspace import Workspace, http_auth_environment

DEFAULT_USER_NAME = "cml[bot]"
DEFAULT_USER_EMAIL = "cml-bot@users.noreply.github.com"
#: CI variables naming the branch a job runs for, in the order they are trusted.
BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH", "BITBUCKET_BRANCH",
                    "GITHUB_REF_NAME")
MAX_SUFFIX = 20

MergeMethod = Literal["merge", "rebase", "squash"]


@dataclass(frozen=True)
class Committer:
    """The name and e-mail address of the commits cml makes."""

    name: str = DEFAULT_USER_NAME
    email: str = DEFAULT_USER_EMAIL


@dataclass(frozen=True)
class PullRequestOptions:
    """What :func:`open_pull_request` commits and opens, with iterative/cml's defaults filled in when it runs."""

    paths: Sequence[str] = ()
    remote: str = "origin"
    branch: str | None = None
    target_branch: str | None = None
    title: str | None = None
    body: str | None = None
    message: str | None = None
    committer: Committer = field(default_factory=Committer)
    skip_ci: bool = False
    merge_method: MergeMethod | None = None
    force_new: bool = False


@dataclass(frozen=True)
class PullRequestResult:
    """The pull request (``None`` when there was nothing to commit), whether it was opened now, a sentence saying
    what happened, and what the forge calls a pull request (``Merge Request`` on GitLab)."""

    pull: PullRequest | None
    created: bool
    note: str
    term: str = "Pull Request"

    @property
    def url(self) -> str | None:
        """The pull request's web address."""
        return self.pull.url if self.pull else None


def open_pull_request(
    paths: Sequence[str] = (),
    *,
    title: str | None = None,
    body: str | None = None,
    branch: str | None = None,
    target_branch: str | None = None,
    message: str | None = None,
    merge_method: MergeMethod | None = None,
    skip_ci: bool = False,
    force_new: bool = False,
    remote: str = "origin",
    committer: Committer | None = None,
    cwd: str | None = None,
    connection: Connection | None = None,
    note: Note | None = None,
) -> PullRequestResult:
    """Commit ``paths`` (paths or globs, relative to ``cwd``; every change when empty) onto HEAD in a new branch,
    push it to ``remote`` and open a pull request into ``target_branch`` (by default the CI's branch, else the
    current one); running it again finds the same branch and pull request. The user's branch, index and files are
    not touched, and nothing is force-pushed.

    ``branch`` defaults to ``<target>-cml-pr-<short sha>``; when it holds other changes, ``force_new`` picks a
    suffixed one. ``merge_method`` turns on auto-merge (or merges now where the forge has none). ``skip_ci`` adds
    ``[skip ci]`` to the commit message (always added when neither ``message`` nor ``merge_method`` is given).
    Notes go to ``note`` (by default the ``cml`` logger).
    """
    connection = connection or Connection()
    options = PullRequestOptions(paths, remote, branch, target_branch, title, body, message, committer or Committer(),
                                 skip_ci, merge_method, force_new)
    context, forge = connection.open()
    return commit_and_open(options, forge, context, connection.env, note or log_note, cwd)


def ci_branch(environ: Mapping[str, str]) -> str | None:
    """The branch the CI job runs for (the PR's head branch on pull-request events)."""
    if environ.get("GITHUB_REF_TYPE", "branch") != "branch" and not environ.get("GITHUB_HEAD_REF"):
        return None
    return next((environ[name] for name in BRANCH_VARIABLES if environ.get(name)), None)


def commit_and_open(
    options: PullRequestOptions,
    forge: Forge,
    context: RepositoryContext,
    environ: Mapping[str, str],
    note: Note,
    cwd: str | None = None,
) -> PullRequestResult:
    """Commit ``options.paths`` (every change when empty) onto HEAD in a new branch, push it and open a
    pull request into the target branch; rerunning finds the same branch and pull request."""
    workspace = Workspace.find(cwd)
    remote_url = workspace.remote_url(options.remote)
    workspace.auth = http_auth_environment(remote_url, *forge.git_credentials())
    target = options.target_branch or ci_branch(environ) or workspace.current_branch()
    if not target:
        raise UsageError("HEAD is detached and the CI names no branch; pass --target-branch BRANCH",
                         parameter="target_branch")
    if workspace.remote_branch_head(options.remote, target) is None:
        raise UsageError(f"branch '{target}' does not exist on {options.remote}; pass an existing --target-branch",
                         parameter="target_branch")

    prefix = _prefix(workspace, cwd)
    here = os.path.realpath(cwd or os.getcwd())
    patterns = [os.path.relpath(path, here) if os.path.isabs(path) else path for path in options.paths]
    pathspecs = glob_pathspecs(patterns, prefix) or [f":(top){prefix}"]
    changed = workspace.changed_paths(pathspecs)
    if not changed:
        matched = f"no changed file matches {' '.join(options.paths)}" if options.paths else "no changed files"
        return PullRequestResult(None, False, f"{matched}; nothing to commit, no pull request opened",
                                 forge.pull_request_term)

    head = workspace.git("rev-parse", "HEAD")
    short = head[:8]
    merge = options.merge_method
    message = options.message or f"CML PR for {short}"
    if options.skip_ci or (not options.message and not merge):
        message += " [skip ci]"  # a commit made by CI must not start the same CI again
    committer = options.committer
    identity = {"GIT_AUTHOR_NAME": committer.name, "GIT_AUTHOR_EMAIL": committer.email,
                "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email}
    commit = workspace.commit_paths(changed, message, identity)
    tree = workspace.tree_of(commit)

    source, existing_head = _choose_branch(workspace, options, options.branch or f"{target}-cml-pr-{short}", tree)
    pushed = False
    if existing_head is None:
        workspace.git("push", "--quiet", options.remote, f"{commit}:refs/heads/{source}", network=True)
        pushed = True
    else:
        note(f"branch {source} already holds these changes; not pushing again")
    try:
        pull = forge.find_pull_request(source, target)
        created = pull is None
        if pull is None:
            repository_url = (context.server_url or "").rstrip("/") + f"/{context.repository}"
            title = options.title or f"CML PR for {target} {short}"
            if options.skip_ci and forge.skip_ci_in_title:
                title += " [skip ci]"
            body = options.body or f"Automated commits for {repository_url}/commit/{head} created by CML."
            pull = forge.open_pull_request(source, target, title, body)
    except CmlError:
        if pushed:  # leave no half-made branch behind
            workspace.git("push", "--quiet", options.remote, "--delete", source, network=True, check=False)
        raise
    result_note = f"opened pull request #{pull.number}" if created else f"pull request #{pull.number} already exists"
    if merge:
        outcome = forge.merge_pull_request(pull, merge)
        result_note += "; it merges when its checks pass" if outcome == "auto-merge" else "; merged"
    return PullRequestResult(pull, created, result_note, forge.pull_request_term)


def expand_braces(pattern: str) -> list[str]:
    """``a.{json,yaml}`` → ``a.json``, ``a.yaml`` (nested too), as globby does; git's globs have no braces."""
    depth, start = 0, 0
    commas: list[int] = []
    for index, character in enumerate(pattern):
        if character == "{":
            depth += 1
            if depth == 1:
                start, commas = index, []
        elif character == "," and depth == 1:
            commas.append(index)
        elif character == "}" and depth:
            depth -= 1
            if depth == 0 and commas:
                bounds = [start, *commas, index]
                head, tail = pattern[:start], pattern[index + 1:]
                return [expanded for left, right in zip(bounds, bounds[1:])
                        for expanded in expand_braces(head + pattern[left + 1:right] + tail)]
    return [pattern]


def glob_pathspecs(patterns: Sequence[str], prefix: str = "") -> list[str]:
    """git pathspecs (from the top of the working tree) for ``cml pr create``'s PATH|GLOB arguments, relative to
    the current folder ``prefix``, matching as iterative/cml's globby did: ``*`` within one folder, ``**/`` at
    every depth (the top level included), ``{a,b}``, dotfiles, a folder for everything in it, ``!GLOB`` to leave out."""
    pathspecs = []
    for pattern in patterns:
        exclude = pattern.startswith("!")
        for expanded in expand_braces(pattern[1:] if exclude else pattern):
            path = posixpath.normpath(prefix + expanded.replace(os.sep, "/"))
            if path == ".." or path.startswith("../") or posixpath.isabs(path):
                raise UsageError(f"{pattern} is outside the repository; give PATHs inside it")
            pathspecs.append(f":(top,glob{',exclude' if exclude else ''}){'' if path == '.' else path}")
    return pathspecs


def _prefix(workspace: Workspace, cwd: str | None) -> str:
    """The current folder relative to the working tree's root, with a trailing slash (or ``""``)."""
    here = os.path.realpath(cwd or os.getcwd())
    relative = os.path.relpath(here, os.path.realpath(workspace.root))
    return "" if relative == "." else relative.replace(os.sep, "/") + "/"


def _choose_branch(workspace: Workspace, options: PullRequestOptions, base_name: str, tree: str) -> tuple[str, str | None]:
    """``(branch, its remote head)``: the first candidate that is free (head ``None``) or already holds
    exactly ``tree`` (a retried job). Another tree on the branch is an error unless ``--force-new``."""
    for attempt in range(1, MAX_SUFFIX + 1):
        name = base_name if attempt == 1 else f"{base_name}-{attempt}"
        remote_head = workspace.remote_branch_head(options.remote, name)
        if remote_head is None:
            return name, None
        workspace.git("fetch", "--quiet", "--depth=1", options.remote, f"refs/heads/{name}", network=True)
        if workspace.tree_of(remote_head) == tree:
            return name, remote_head
        if not options.force_new:
            raise GitError(f"branch '{name}' already exists on {options.remote} with other changes; "
                           "pass --branch NAME, or --force-new for a new suffixed branch (nothing is ever force-pushed)")
    raise GitError(f"branches {base_name} to {base_name}-{MAX_SUFFIX} all exist with other changes; pass --branch NAME")
