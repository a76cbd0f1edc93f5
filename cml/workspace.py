"""Git operations on the CI's clone: commits without checkouts, authenticated pushes and fetches.

The token reaches git only through the environment of the git process
(``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` adding an
``http.<remote>.extraHeader``), never through ``.git/config``, the remote URL or
the command line, so it cannot leak into files, ``ps`` output or error messages.
For the job's own later ``git push``, ``cml ci`` configures a credential helper
(:func:`credential_helper`, run by this Python) that hands git the token from the
environment of that git process when it asks.
"""

from __future__ import annotations

import base64
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Literal, overload
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from cml.ci import WORKSPACE_VARIABLES, detect
from cml.errors import UsageError
from cml.forges.registry import DRIVERS, TOKEN_VARIABLES, ci_repository_context, driver_for_host, forge_class, git_credentials
from cml.git import git_text, run_git
from cml.secrets import register_secret


def http_auth_environment(remote_url: str, user: str, password: str) -> dict[str, str]:
    """Environment that makes git send Basic credentials to ``remote_url``'s host, and no other header.

    The empty value first resets headers configured for the same URL (``actions/checkout``
    stores its own token in ``http.https://github.com/.extraheader``).
    """
    parts = urlsplit(remote_url)
    if parts.scheme not in ("http", "https"):
        return {}
    register_secret(password)
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    register_secret(credentials)
    key = f"http.{parts.scheme}://{parts.netloc.rpartition('@')[2]}/.extraheader"
    return {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": key, "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": key, "GIT_CONFIG_VALUE_1": f"Authorization: Basic {credentials}",
            "GIT_TERMINAL_PROMPT": "0"}


@dataclass
class Workspace:
    """A git working tree, with an optional environment for authenticated network commands."""

    root: str
    auth: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, cwd: str | None = None) -> Workspace:
        """The working tree around ``cwd``; a clear error outside one."""
        root = git_text(["rev-parse", "--show-toplevel"], cwd)
        assert root is not None  # git_text raises rather than answer None unless it probes
        return cls(root)

    @overload
    def git(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False,
            check: Literal[True] = True) -> str: ...

    @overload
    def git(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False,
            check: Literal[False]) -> str | None: ...

    def git(self, *args: str, env: Mapping[str, str] | None = None, network: bool = False,
            check: bool = True) -> str | None:
        """The output of git (see :func:`cml.git.git_text`); ``network`` adds the authentication environment.
        Without ``check`` a failure returns ``None`` instead of raising."""
        return git_text(args, self.root, env={**(env or {}), **(self.auth if network else {})}, probe=not check)

    def succeeds(self, *args: str, network: bool = False) -> bool:
        return self.git(*args, network=network, check=False) is not None

    def remote_url(self, remote: str) -> str:
        if not self.succeeds("remote", "get-url", remote):
            raise UsageError(f"this clone has no remote named '{remote}'; add it or pass --remote NAME",
                             parameter="remote")
        return self.git("remote", "get-url", remote)

    def current_branch(self) -> str | None:
        return self.git("branch", "--show-current") or None

    def is_shallow(self) -> bool:
        return self.git("rev-parse", "--is-shallow-repository") == "true"

    def remote_branch_head(self, remote: str, branch: str) -> str | None:
        """The commit ``branch`` points at on ``remote`` (``git ls-remote``), or ``None``."""
        listing = self.git("ls-remote", "--heads", remote, f"refs/heads/{branch}", network=True)
        return listing.split()[0] if listing else None

    def changed_paths(self, pathspecs: Sequence[str]) -> list[str]:
        """Files (relative to the root) that differ from HEAD or are untracked, within ``pathspecs``."""
        output = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *pathspecs)
        paths = []
        entries = output.split("\0")
        index = 0
        while index < len(entries):
            entry = entries[index]
            index += 1
            if len(entry) < 4:
                continue
            status, path = entry[:2], entry[3:]
            if "R" in status or "C" in status:
                index += 1  # the source path of a rename follows
            paths.append(path)
        return paths

    def commit_paths(self, paths: Sequence[str], message: str, identity: Mapping[str, str], parent: str = "HEAD") -> str:
        """A commit of ``parent`` plus the working-tree state of ``paths``, made in a private index:
        the branch, the index and the files of the working tree are left as they are."""
        with tempfile.TemporaryDirectory() as folder:
            index = {"GIT_INDEX_FILE": os.path.join(folder, "index")}
            self.git("read-tree", parent, env=index)
            self.git("add", "--all", "--", *paths, env=index)
            tree = self.git("write-tree", env=index)
        return self.git("commit-tree", tree, "-p", parent, "-m", message, env=identity)

    def tree_of(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}")


def credential_helper_command(driver: str) -> str:
    """The helper git runs (through a shell) for ``cml ci``'s credentials: this Python running
    :func:`credential_helper`, found even when ``cml`` is not on PATH, and never a ``cml`` package in git's
    current folder. It holds no secret: git appends the action (``get``, ``store``, ``erase``)."""
    code = ("import sys; sys.path[:1] = [p for p in sys.path[:1] if p]; "
            "from cml.workspace import credential_helper; credential_helper()")
    return f"!{shlex.quote(sys.executable)} -c {shlex.quote(code)} {shlex.quote(driver)}"


def credential_helper(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """git's credential helper that ``cml ci`` configures, run as ``DRIVER ACTION``: reads git's request from
    stdin and writes the answer (see :func:`credential_answer`) to stdout, for git only. Without a token it says
    on stderr where git would have found one."""
    driver, action = ([*(sys.argv[1:] if argv is None else argv)] + ["", ""])[:2]
    env = os.environ if environ is None else environ
    for line in sys.stdin:  # git's request: key=value lines up to a blank line; the URL is in the config key
        if not line.strip():
            break
    answer = credential_answer(driver, action, env)
    if not answer and action == "get":
        prefix = "::warning::" if env.get("GITHUB_ACTIONS") else "cml: warning: "
        sys.stderr.write(f"{prefix}no token for git: set REPO_TOKEN (or {', '.join(TOKEN_VARIABLES[1:])}) "
                         "in this step's environment\n")
    sys.stdout.write(answer)
    sys.stdout.flush()


def credential_answer(driver: str, action: str, environ: Mapping[str, str]) -> str:
    """git's credential protocol answer to ``action`` (``get``; ``store`` and ``erase`` are ignored): the
    first token of REPO_TOKEN, repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN (on GitLab,
    else its CI's job token, CI_JOB_TOKEN) in ``environ``, with the user name ``driver``'s git server expects;
    ``""`` without one."""
    if action != "get":
        return ""
    name = next((name for name in TOKEN_VARIABLES if environ.get(name)), None)
    forge = forge_class(driver) if driver in DRIVERS else None
    if name is not None:
        user, password = git_credentials(driver, environ[name])
    elif forge and forge.job_token_variable and forge.job_token_user and environ.get(forge.job_token_variable):
        user, password = forge.job_token_user, environ[forge.job_token_variable]
    else:
        return ""
    if any(character in user + password for character in "\0\r\n"):
        return ""  # it would end its line early and inject attributes
    return f"username={user}\npassword={password}\n"


def _checkout_token(header: str) -> str | None:
    """The token in ``AUTHORIZATION: basic base64(x-access-token:TOKEN)`` (actions/checkout's extraheader)."""
    try:
        decoded = base64.b64decode(header.split()[-1], validate=True).decode()
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def setup_git_authentication(
    workspace: Workspace,
    environ: Mapping[str, str],
    remote: str,
    driver: str | None,
    token: str | None,
    note: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """Make later ``git push`` and ``git fetch`` to ``remote``'s forge authenticate, as iterative/cml's ``cml ci``
    did, without writing the token anywhere: a credential helper for ``scheme://host`` in ``.git/config`` that
    reads the token from the environment of the git process; the remote URL loses any credentials it held.
    ``token`` (``--token``) also authenticates this run's own fetches."""
    url = workspace.git("remote", "get-url", remote, check=False)
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    host = parts.netloc.rpartition("@")[2]
    origin = f"{parts.scheme}://{host}"
    ci = ci_repository_context(environ)
    driver = driver or driver_for_host(host) or (ci.driver if ci else None)
    if driver is None:
        warn(f"git authentication for {origin} not set up: cannot tell which forge it runs; pass --driver")
        return
    if "@" in parts.netloc:
        workspace.git("remote", "set-url", remote, urlunsplit(parts._replace(netloc=host)))
        note(f"removed the credentials from the URL of {remote}")
    key = f"credential.{origin}.helper"
    workspace.git("config", "--local", "--unset-all", key, check=False)
    workspace.git("config", "--local", "--add", key, "")  # only this helper: earlier ones could answer first
    workspace.git("config", "--local", "--add", key, credential_helper_command(driver))
    in_environment = next((environ[name] for name in TOKEN_VARIABLES if environ.get(name)), None)
    header_key = f"http.{origin}/.extraheader"
    headers = (workspace.git("config", "--local", "--get-all", header_key, check=False) or "").splitlines()
    stores_header = forge_class(driver).checkout_stores_token_header if driver in DRIVERS else False
    if stores_header and in_environment and any(_checkout_token(value) != in_environment for value in headers):
        workspace.git("config", "--local", "--unset-all", header_key)  # as iterative/cml: push with REPO_TOKEN
        note(f"removed the token actions/checkout stored for {origin}, so that git uses the job's token")
    note(f"git push and fetch to {origin} authenticate with the token in REPO_TOKEN (or {', '.join(TOKEN_VARIABLES[1:])}) "
         "of their environment, through a credential helper; no token is stored")
    if token and token != in_environment:
        workspace.auth = http_auth_environment(url or "", *git_credentials(driver, token))
        warn(f"the --token token is not in this job's environment: a later git push or fetch to {origin} needs it "
             f"in REPO_TOKEN (or {', '.join(TOKEN_VARIABLES[1:])})")


def mark_safe_directory(environ: Mapping[str, str]) -> str | None:
    """In CI only, add the workspace to ``safe.directory`` in the (runner's) global git config, once;
    containers often run as another user than the one who owns the checkout. Returns what was done."""
    if not detect(environ).in_ci:
        return None
    folder = next((environ[name] for name in WORKSPACE_VARIABLES if environ.get(name)), None) or os.getcwd()
    folder = os.path.abspath(folder)
    listed = (git_text(["config", "--global", "--get-all", "safe.directory"], probe=True) or "").splitlines()
    if folder in listed or "*" in listed:
        return None
    run_git(["config", "--global", "--add", "safe.directory", folder])
    return f"marked {folder} as a safe git directory"


def prepare_repository(
    workspace: Workspace,
    environ: Mapping[str, str],
    user_name: str,
    user_email: str,
    remote: str = "origin",
    fetch_depth: int | None = None,
) -> list[str]:
    """Get a CI clone ready for cml: the commit identity (in this repository's config only) and the
    history ``metrics diff`` needs. Returns one line per thing done.

    ``fetch_depth``: ``None`` fetches just the pull request's base branch when it is missing, ``0``
    unshallows (or fetches everything), ``N`` deepens every branch to N commits.
    """
    done = []
    if workspace.git("config", "--local", "--get", "user.name", check=False) != user_name:
        workspace.git("config", "--local", "user.name", user_name)
    if workspace.git("config", "--local", "--get", "user.email", check=False) != user_email:
        workspace.git("config", "--local", "user.email", user_email)
    done.append(f"commits are made as {user_name} <{user_email}>")
    base = detect(environ).base_branch
    base_refspec = [f"+refs/heads/{base}:refs/remotes/{remote}/{base}"] if base else []
    if fetch_depth == 0:
        arguments = ["--unshallow"] if workspace.is_shallow() else []
        workspace.git("fetch", "--quiet", "--tags", *arguments, remote,
                      f"+refs/heads/*:refs/remotes/{remote}/*", network=True)
        done.append(f"fetched the whole history of {remote}")
    elif fetch_depth is not None:
        workspace.git("fetch", "--quiet", "--tags", f"--depth={fetch_depth}", remote,
                      f"+refs/heads/*:refs/remotes/{remote}/*", network=True)
        done.append(f"fetched {fetch_depth} commits of every branch of {remote}")
    elif base and not workspace.succeeds("rev-parse", "--verify", "-q", f"refs/remotes/{remote}/{base}"):
        depth = ["--depth=1"] if workspace.is_shallow() else []
        workspace.git("fetch", "--quiet", *depth, remote, *base_refspec, network=True)
        done.append(f"fetched the base branch {remote}/{base}")
    return done
