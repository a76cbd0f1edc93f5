"""Run git, and read files at a git revision without checking it out.

:func:`run_git` is the one way cml runs git: a failure is one redacted line naming the
subcommand (and, for a refused token, the host that refused it). One ``git cat-file
--batch`` process serves every file of a revision, however many are asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Literal, overload
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from cml.errors import GitError
from cml.fileio import FilePath
from cml.secrets import redact

#: What git prints when the server refused the credentials it sent (or it had none to send).
_REFUSED = re.compile(r"could not read (?:Username|Password)|terminal prompts disabled|Authentication failed"
                      r"|HTTP Basic: Access denied|returned error: 40[13]\b")
#: Characters of git's message kept in an error (a server can make it arbitrarily long).
MAX_DETAIL = 300


@overload
def run_git(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
            stdin: bytes | None = None, probe: Literal[False] = False) -> bytes: ...


@overload
def run_git(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
            stdin: bytes | None = None, probe: bool) -> bytes | None: ...


def run_git(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
            stdin: bytes | None = None, probe: bool = False) -> bytes | None:
    """The output of ``git ARGS`` run in ``cwd``, with ``env`` added to this process's environment.

    A failure raises a one-line, redacted :class:`GitError` naming the subcommand; with ``probe``
    (for questions such as "is this ref there?") it returns ``None`` instead.
    """
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **env} if env else None, input=stdin,
                                   capture_output=True, check=False)
    except OSError as error:
        if probe:
            return None
        if error.filename == "git":
            raise GitError("git is not installed or not on PATH; install git") from None
        raise GitError(f"{cwd}: {error.strerror}") from None
    if completed.returncode == 0:
        return completed.stdout
    if probe:
        return None
    raise GitError(redact(_failure(args, completed.stderr.decode(errors="replace"), completed.returncode, cwd)))


@overload
def git_text(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, probe: Literal[False] = False) -> str: ...


@overload
def git_text(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, probe: bool) -> str | None: ...


def git_text(args: Sequence[str], cwd: FilePath | None = None, *, env: Mapping[str, str] | None = None,
             stdin: bytes | None = None, probe: bool = False) -> str | None:
    """:func:`run_git`'s output as text without its final line break (file names round-trip through
    :func:`os.fsdecode`); ``None`` when a probe fails."""
    output = run_git(args, cwd, env=env, stdin=stdin, probe=probe)
    return None if output is None else os.fsdecode(output).removesuffix("\n")


def _failure(args: Sequence[str], stderr: str, code: int, cwd: FilePath | None) -> str:
    command = "git " + next((arg for arg in args if not arg.startswith("-")), "")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any(line.startswith("fatal: not a git repository") for line in lines):
        return f"{os.path.realpath(cwd or os.getcwd())} is not inside a git repository; run cml in your project's clone"
    if _REFUSED.search(stderr):
        url = re.search(r"'(https?://[^']*)'", stderr)
        host = urlsplit(url[1]).netloc.rpartition("@")[2] if url else "the remote"
        status = re.search(r"returned error: (\d{3})", stderr)
        return (f"{command} failed: {host} refused the token for git over HTTPS (HTTP {status[1] if status else 401}); "
                "use a token allowed to push to the repository (contents: write permission)")
    # git's own error, not the hints after it or what a server said before it.
    detail = next((line for line in lines if line.startswith("fatal: ")), None) \
        or next((line for line in reversed(lines) if line.startswith("error: ")), None) \
        or (lines[-1] if lines else f"exit {code}")
    return f"{command} failed: {detail.removeprefix('fatal: ').removeprefix('error: ')[:MAX_DETAIL]}"


def fetch_hint(revision: str) -> str:
    """Say how to fetch ``revision`` into a (typically shallow) CI clone."""
    remote, _, branch = revision.partition("/")
    if branch and remote in ("origin", "upstream"):
        return f"fetch it first: git fetch --depth=1 {remote} {branch}:refs/remotes/{remote}/{branch}"
    return f"fetch it first: git fetch --depth=1 origin {revision}"


@dataclass(frozen=True)
class Revision:
    """A resolved commit in the repository that contains ``cwd``."""

    name: str
    sha: str
    toplevel: str
    cwd: str

    def repo_path(self, path: FilePath) -> str:
        """The path of ``path`` (relative to ``cwd`` or absolute) from the repository root."""
        absolute = os.path.realpath(os.path.join(self.cwd, os.fspath(path)))
        relative = os.path.relpath(absolute, self.toplevel)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            raise GitError(f"{path}: is outside the git repository at {self.toplevel}")
        return relative.replace(os.sep, "/")

    def read_files(self, paths: Iterable[FilePath]) -> dict[str, bytes | None]:
        """Contents of ``paths`` at this revision, by path as given; ``None`` for a path the revision lacks."""
        unique = list(dict.fromkeys(os.fspath(p) for p in paths))
        if not unique:
            return {}
        broken = next((path for path in unique if "\n" in path), None)
        if broken is not None:  # it would end its request line early and shift every answer after it
            raise GitError(f"{broken!r}: a file name with a line break cannot be read from git; rename the file")
        request = os.fsencode("".join(f"{self.sha}:{self.repo_path(p)}\n" for p in unique))
        output = run_git(["cat-file", "--batch"], self.cwd, stdin=request)
        contents: dict[str, bytes | None] = {}
        position = 0
        for path in unique:
            end = output.index(b"\n", position)
            header = output[position:end]
            position = end + 1
            if header.endswith((b" missing", b" ambiguous")):
                contents[path] = None
                continue
            _, kind, size = header.split()
            body = output[position : position + int(size)]
            position += int(size) + 1
            contents[path] = body if kind == b"blob" else None
        return contents

    def list_files(self, folder: FilePath) -> list[str]:
        """Paths of the files under ``folder`` at this revision, relative to ``cwd`` like ``folder``."""
        listing = git_text(["ls-tree", "-r", "-z", "--full-tree", "--name-only", self.sha, "--",
                            self.repo_path(folder)], self.cwd)
        root = os.path.join(self.cwd, os.fspath(folder))
        return [os.path.join(os.fspath(folder), os.path.relpath(os.path.join(self.toplevel, name), root))
                for name in listing.split("\0") if name]

    def read_file(self, path: FilePath) -> bytes | None:
        """Contents of one file at this revision, or ``None`` if it is not there."""
        return self.read_files([path])[os.fspath(path)]


def resolve(revision: str, cwd: FilePath | None = None) -> Revision:
    """Resolve ``revision`` to a commit, with an error that says how to fetch a missing one."""
    cwd = os.path.realpath(cwd or os.getcwd())
    # The last line is the shallowness; the path before it may hold any character, line breaks included.
    toplevel, shallow = git_text(["rev-parse", "--show-toplevel", "--is-shallow-repository"], cwd).rsplit("\n", 1)
    sha = git_text(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], cwd, probe=True)
    if sha is None:
        clone = "this shallow clone" if shallow == "true" else "this clone"
        raise GitError(f"revision '{revision}' is not in {clone}; {fetch_hint(revision)}")
    return Revision(name=revision, sha=sha, toplevel=os.path.realpath(toplevel), cwd=cwd)
