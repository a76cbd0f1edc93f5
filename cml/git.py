"""Run git, and read files at a git revision without checking it out.

:func:`run_git` is the one way cml runs git: a failure is one redacted line naming the
subcommand (and, for a refused token, the host that refused it). One ``git cat-file
--batch`` process serves every file of a revision, however many are asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Literal, overload
from collections.abc import Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from cml.errors import GitError
from cml.fileio import FilePath, too_large
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

    def read_files(self, paths: Iterable[FilePath], max_bytes: int | None = None,
                   what: str = "such files") -> dict[str, bytes | None]:
        """Contents of ``paths`` at this revision, by path as given; ``None`` for a path the revision lacks.

        A file over ``max_bytes`` raises :class:`InputError` naming it and ``what`` it is (a table, say); its
        bytes are skipped as git sends them, never held, so a pull request's history cannot exhaust memory.
        """
        unique = list(dict.fromkeys(os.fspath(p) for p in paths))
        if not unique:
            return {}
        broken = next((path for path in unique if "\n" in path), None)
        if broken is not None:  # it would end its request line early and shift every answer after it
            raise GitError(f"{broken!r}: a file name with a line break cannot be read from git; rename the file")
        names = [f"{self.sha}:{self.repo_path(path)}" for path in unique]
        with ObjectReader(self.cwd) as reader:
            answers = list(reader.stream(names, [max_bytes] * len(names)))
        contents: dict[str, bytes | None] = {}
        for path, answer in zip(unique, answers):
            if answer is not None and answer.kind == "blob" and answer.data is None and max_bytes is not None:
                raise too_large(f"{self.repo_path(path)} (at {self.name})", answer.size, max_bytes, what)
            contents[path] = answer.data if answer is not None and answer.kind == "blob" else None
        return contents

    def list_files(self, folder: FilePath) -> list[str]:
        """Paths of the files under ``folder`` at this revision, relative to ``cwd`` like ``folder``."""
        listing = git_text(["ls-tree", "-r", "-z", "--full-tree", "--name-only", self.sha, "--",
                            self.repo_path(folder)], self.cwd)
        root = os.path.join(self.cwd, os.fspath(folder))
        return [os.path.join(os.fspath(folder), os.path.relpath(os.path.join(self.toplevel, name), root))
                for name in listing.split("\0") if name]

    def read_file(self, path: FilePath, max_bytes: int | None = None, what: str = "such files") -> bytes | None:
        """Contents of one file at this revision, or ``None`` if it is not there (``max_bytes`` as for
        :meth:`read_files`)."""
        return self.read_files([path], max_bytes, what)[os.fspath(path)]


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


@dataclass(frozen=True)
class Commit:
    """A commit object as :class:`ObjectReader` reads it: its parents (first parent first), committer time and
    subject line."""

    sha: str
    parents: tuple[str, ...]
    timestamp: int
    subject: str

    @classmethod
    def parse(cls, sha: str, body: bytes) -> Commit:
        """Parse the raw body of commit ``sha`` (headers, a blank line, the message)."""
        headers, _, message = body.partition(b"\n\n")
        parents: list[str] = []
        timestamp = 0
        for line in headers.split(b"\n"):
            key, _, value = line.partition(b" ")
            if key == b"parent":
                parents.append(value.decode("ascii", errors="replace"))
            elif key == b"committer":
                # "Name <email> 1700000000 +0000": the name may hold anything but the last two fields are fixed.
                fields = value.rsplit(b" ", 2)
                timestamp = int(fields[1]) if len(fields) == 3 and fields[1].isdigit() else 0
        subject = message.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
        return cls(sha, tuple(parents), timestamp, subject)


@dataclass(frozen=True)
class GitObject:
    """An object read by :class:`ObjectReader`; ``data`` is ``None`` when it was larger than the caller allowed
    (its bytes were skipped, never held in memory)."""

    sha: str
    kind: str
    size: int
    data: bytes | None


#: Requests up to this many bytes are written before their answers are read; longer ones by a thread, so that
#: writing never waits for git while git waits for its answers to be read.
_REQUEST_CHUNK = 4000


class ObjectReader:
    """Objects read from a single ``git cat-file --batch`` process, as many requests at a time as the caller has.

    Unlike :meth:`Revision.read_files`, which sends one batch of names, a caller can decide what to ask next
    from what it read (a branch's commits, then their files, then the files their ``dvc.yaml`` names), so
    walking a whole history costs one git process however many commits and files it reads. Use it as a
    context manager.
    """

    def __init__(self, cwd: FilePath | None = None):
        self.cwd = os.path.realpath(cwd or os.getcwd())
        self._relative: dict[str, str] = {}
        # A file, not a pipe, so git never blocks on what it reports; closed with the process in close().
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self._process = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self.cwd, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._errors)
        except OSError as error:
            self._errors.close()
            if error.filename == "git":
                raise GitError("git is not installed or not on PATH; install git") from None
            raise GitError(f"{self.cwd}: {error.strerror}") from None

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the git process (a request still being written fails quietly)."""
        process = self._process
        if process.stdout and not process.stdout.closed:
            process.stdout.close()  # first: git, blocked on answers nobody reads, ends
        if process.stdin and not process.stdin.closed:
            with contextlib.suppress(OSError):  # git may have ended already
                process.stdin.close()
        process.wait()
        self._errors.close()

    def _failed(self) -> GitError:
        code = self._process.wait()
        self._errors.seek(0)
        stderr = self._errors.read().decode(errors="replace")
        return GitError(redact(_failure(["cat-file"], stderr, code, self.cwd)))

    def read(self, name: str, max_bytes: int | None = None) -> GitObject | None:
        """The object ``name`` (``REV``, ``REV^{commit}``, ``REV:path``) or ``None`` when git has no such object;
        the bytes of one over ``max_bytes`` are skipped (``data`` is ``None``)."""
        return list(self.stream([name], [max_bytes]))[0]

    def stream(self, names: Sequence[str], max_bytes: Sequence[int | None] | None = None) -> Iterator[GitObject | None]:
        """:meth:`read` for each of ``names`` (``max_bytes`` holds one limit per name), all asked for at once and
        yielded in order as git answers, so that only one answer at a time is held. Read it to the end (or
        :meth:`close` the reader) before asking for more."""
        requests = []
        for name in names:
            if "\n" in name:  # it would end its request early and shift every answer after it
                raise GitError(f"{name!r}: a revision or file name with a line break cannot be read from git; "
                               "rename it")
            requests.append(os.fsencode(name) + b"\n")
        limits: list[int | None] = list(max_bytes) if max_bytes is not None else [None] * len(requests)
        return self._answers(b"".join(requests), limits)

    def _answers(self, requests: bytes, limits: list[int | None]) -> Iterator[GitObject | None]:
        writer = None
        if len(requests) <= _REQUEST_CHUNK:
            self._write(requests)
        else:
            writer = threading.Thread(target=self._write, args=(requests,), daemon=True)
            writer.start()
        finished = not limits
        try:
            for position, limit in enumerate(limits):
                answer = self._receive(limit)
                finished = position == len(limits) - 1  # every answer read: the reader may take new requests
                yield answer
        finally:
            if writer is not None:
                if not finished:  # git may be blocked writing answers that will not be read
                    self.close()
                writer.join()

    def _write(self, requests: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        # A git that ended (or a reader closed early) leaves its answers short, which _receive reports.
        with contextlib.suppress(OSError, ValueError):
            stdin.write(requests)
            stdin.flush()

    def _receive(self, max_bytes: int | None) -> GitObject | None:
        stdout = self._process.stdout
        assert stdout is not None
        header = stdout.readline()
        if not header.endswith(b"\n"):
            raise self._failed()
        if header.endswith((b" missing\n", b" ambiguous\n")):
            return None
        sha, kind, size_text = header.split()
        size = int(size_text)
        if max_bytes is not None and size > max_bytes:
            remaining = size + 1
            while remaining:
                chunk = stdout.read(min(remaining, 1 << 20))
                if not chunk:
                    raise self._failed()
                remaining -= len(chunk)
            return GitObject(sha.decode(), kind.decode(), size, None)
        data = stdout.read(size + 1)
        if len(data) != size + 1:
            raise self._failed()
        return GitObject(sha.decode(), kind.decode(), size, data[:-1])

    def commit(self, revision: str) -> Commit | None:
        """The commit ``revision`` names (a tag is peeled), or ``None`` when the clone does not have it."""
        found = self.read(f"{revision}^{{commit}}")
        if found is None or found.data is None:
            return None
        return Commit.parse(found.sha, found.data)

    def file_name(self, commit: str, path: FilePath) -> str:
        """The name :meth:`read` takes for ``path`` (relative to ``cwd`` or absolute) at ``commit``."""
        path = os.fspath(path)
        relative = self._relative.get(path)
        if relative is None:  # the folder's links resolved as in cwd, not the file's own (git stores a link as is)
            folder, name = os.path.split(os.path.join(self.cwd, path))
            relative = os.path.relpath(os.path.join(os.path.realpath(folder), name), self.cwd).replace(os.sep, "/")
            self._relative[path] = relative
        return f"{commit}:./{relative}"

    def file_at(self, commit: str, path: FilePath, max_bytes: int | None = None) -> GitObject | None:
        """The blob of ``path`` (relative to ``cwd`` or absolute) at ``commit``; ``None`` when it is not a file
        there."""
        return blob_or_none(self.read(self.file_name(commit, path), max_bytes))


def blob_or_none(found: GitObject | None) -> GitObject | None:
    """``found`` when it is a file's contents (not a folder's tree or a submodule's commit), else ``None``."""
    return found if found is not None and found.kind == "blob" else None
