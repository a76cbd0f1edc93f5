"""Read files at a git revision without checking it out.

One ``git rev-parse`` resolves the revision and the repository root, and one
``git cat-file --batch`` process serves every file, however many are asked for.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from cml.errors import GitError


def _run_git(args: list[str], cwd=None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git to compare revisions") from None


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

    def repo_path(self, path) -> str:
        """The path of ``path`` (relative to ``cwd`` or absolute) from the repository root."""
        absolute = os.path.realpath(os.path.join(self.cwd, os.fspath(path)))
        relative = os.path.relpath(absolute, self.toplevel)
        if relative.startswith(".."):
            raise GitError(f"{path}: is outside the git repository at {self.toplevel}")
        return relative.replace(os.sep, "/")

    def read_files(self, paths) -> dict[str, bytes | None]:
        """Contents of ``paths`` at this revision; ``None`` for a path the revision lacks."""
        paths = list(dict.fromkeys(os.fspath(p) for p in paths))
        if not paths:
            return {}
        request = "".join(f"{self.sha}:{self.repo_path(p)}\n" for p in paths).encode()
        result = _run_git(["cat-file", "--batch"], cwd=self.cwd, stdin=request)
        if result.returncode != 0:
            raise GitError(f"git cat-file failed: {result.stderr.decode(errors='replace').strip()}")
        output = result.stdout
        contents: dict[str, bytes | None] = {}
        position = 0
        for path in paths:
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

    def list_files(self, folder) -> list[str]:
        """Paths of the files under ``folder`` at this revision, relative to ``cwd`` like ``folder``."""
        result = _run_git(["ls-tree", "-r", "--name-only", self.sha, "--", self.repo_path(folder)], cwd=self.cwd)
        if result.returncode != 0:
            raise GitError(f"git ls-tree failed: {result.stderr.decode(errors='replace').strip()}")
        root = os.path.join(self.cwd, os.fspath(folder))
        return [os.path.join(os.fspath(folder), os.path.relpath(os.path.join(self.toplevel, line), root))
                for line in result.stdout.decode().splitlines() if line]

    def read_file(self, path) -> bytes | None:
        """Contents of one file at this revision, or ``None`` if it is not there."""
        return self.read_files([path])[os.fspath(path)]


def resolve(revision: str, cwd=None) -> Revision:
    """Resolve ``revision`` to a commit, with an error that says how to fetch a missing one."""
    cwd = os.path.realpath(cwd or os.getcwd())
    result = _run_git(
        ["rev-parse", "--show-toplevel", "--is-shallow-repository", "--verify", "--quiet", f"{revision}^{{commit}}"],
        cwd=cwd,
    )
    lines = result.stdout.decode(errors="replace").split()
    if result.returncode != 0 and len(lines) < 2:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        if message and "not a git repository" in message[0]:
            raise GitError(f"{cwd} is not inside a git repository; run cml in your project's clone")
        raise GitError(f"git rev-parse failed: {message[0] if message else 'unknown error'}")
    toplevel, shallow = lines[0], lines[1] == "true"
    if result.returncode != 0:
        clone = "this shallow clone" if shallow else "this clone"
        raise GitError(f"revision '{revision}' is not in {clone}; {fetch_hint(revision)}")
    return Revision(name=revision, sha=lines[2], toplevel=os.path.realpath(toplevel), cwd=cwd)
