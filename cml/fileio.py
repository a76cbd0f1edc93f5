"""Reading inputs with user-facing errors, and writing outputs atomically.

Outputs are written to a temporary file in the destination folder and moved into
place, so a failed command never leaves a half-written report or image behind.

Files that are sent out (published, inlined into a preview, posted as a report) are read only
inside a :class:`Boundary`: a report is often built from untrusted pull-request content, so a link
to ``/etc/passwd`` or a symlink leading out of the workspace must never be read, and nothing under
a ``.git`` folder (``actions/checkout`` keeps the token in ``.git/config``) is.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Union
from collections.abc import Iterable, Iterator, Mapping

from cml.ci import WORKSPACE_VARIABLES
from cml.errors import InputError

#: A file's path, as :func:`os.fspath` takes it.
FilePath = Union[str, "os.PathLike[str]"]
#: The largest report read (to post, attach or preview): far more than a forge shows in a comment (GitHub: 65,536
#: characters), room for embedded ``data:`` images, and a bound on rendering (about 100 MiB of memory per MiB).
MAX_REPORT_BYTES = 8 * 1024 * 1024


def format_size(size: int) -> str:
    """``1.5 MiB``-style sizes for messages."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def too_large(path: FilePath, size: int | None, limit: int, what: str) -> InputError:
    """The error for a file of ``size`` bytes (``None``: not known) over the ``limit`` for ``what`` (``tables``)."""
    size_text = f"is {format_size(size)}, over" if size is not None else "is over"
    return InputError(path, f"{size_text} the {format_size(limit)} limit for {what}; cml does not read larger files")


def read_bytes(path: FilePath, limit: int | None = None, what: str = "such files") -> bytes:
    """Read a whole file; a missing or unreadable file raises :class:`InputError`.

    With ``limit``, a file larger than ``limit`` bytes is refused before it is read (and a file whose
    size the system does not tell, such as ``/proc/self/environ``, a pipe or ``/dev/zero``, after ``limit``
    bytes); ``what`` names the kind of file in that error.
    """
    try:
        with open(path, "rb") as handle:
            if limit is None:
                return handle.read()
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise too_large(path, size, limit, what)
            data = handle.read(limit + 1)
            if len(data) > limit:
                raise too_large(path, None, limit, what)
            return data
    except FileNotFoundError:
        raise InputError(path, "no such file; check the path (it is relative to the current folder)") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except PermissionError:
        raise InputError(path, "permission denied; make the file readable") from None
    except OSError as error:
        raise InputError(path, f"cannot be read: {error.strerror or error}") from None


def decode_text(data: bytes, path: FilePath) -> str:
    """Decode UTF-8 (with or without a byte-order mark), naming the file on failure."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(path, "is not UTF-8 text; save it as UTF-8", line=line) from None


@contextlib.contextmanager
def atomic_path(path: FilePath, mode: int = 0o644) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    target = Path(path)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(folder, f"cannot create the output folder: {error.strerror or error}") from None
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix or ".tmp", dir=folder)
    except OSError as error:
        raise InputError(target, f"cannot be written: {error.strerror or error}") from None
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, mode)
        try:
            os.replace(temporary, target)
        except OSError as error:
            raise InputError(target, f"cannot be written: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomic(path: FilePath, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically (text is written as UTF-8)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_path(path) as temporary:
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise InputError(path, f"cannot be written: {error.strerror or error}") from None


#: The name of the folder (or, in worktrees and submodules, file) git keeps a repository's configuration in.
GIT_FOLDER = ".git"
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"), (b"PK\x03\x04", "application/zip"),
)


def detect_mime_type(data: bytes) -> str | None:
    """The type ``data``'s content shows (an image, PDF or ZIP signature, SVG, UTF-8 text), else ``None``."""
    for signature, mime_type in _SIGNATURES:
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if b"<svg" in data[:512].lower():
        return "image/svg+xml"
    if b"\0" not in data:
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            pass
    return None


def is_under_git_folder(path: str) -> bool:
    """True if any component of ``path`` (as written, made absolute) is ``.git``, in any case (as case-insensitive
    file systems see it)."""
    return any(part.lower() == GIT_FOLDER for part in os.path.normpath(os.path.abspath(path)).split(os.sep))


class Boundary:
    """The folders files may be read from to be sent out (real paths, symlinks resolved); ``description``
    names them in messages."""

    def __init__(self, roots: Iterable[str], description: str = "the allowed folders"):
        self.roots = sorted({os.path.realpath(root) for root in roots if root})
        self.description = description

    @classmethod
    def for_report(cls, report_path: str, environ: Mapping[str, str], allow_outside: Iterable[str] = ()) -> Boundary:
        """The report's folder, the CI workspace if there is one, and every ``allow_outside`` folder."""
        return cls.for_folder(os.path.dirname(os.path.abspath(report_path)), environ, allow_outside,
                              "the report's folder and the CI workspace")

    @classmethod
    def for_folder(cls, folder: str, environ: Mapping[str, str], allow_outside: Iterable[str] = (),
                   description: str = "the current folder and the CI workspace") -> Boundary:
        """``folder``, the CI workspace if there is one, and every ``allow_outside`` folder."""
        workspaces = [environ[name] for name in WORKSPACE_VARIABLES if environ.get(name)]
        return cls([folder, *workspaces, *allow_outside], description)

    def contains(self, path: str) -> bool:
        """Whether ``path`` resolves (symlinks followed) inside one of the folders."""
        real = os.path.realpath(path)
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)

    def refusal(self, path: str) -> str | None:
        """Why the file at ``path`` may not be sent out, or ``None`` when it may: it is under a ``.git``
        folder (as written or resolved) or resolves outside the boundary."""
        real = os.path.realpath(path)
        if is_under_git_folder(path) or is_under_git_folder(real):
            return "it is inside a .git folder, which holds the repository's credentials; link a copy outside it"
        if not self.contains(real):
            return (f"it is outside {self.description} (resolves to {real}); pass --allow-outside FOLDER "
                    "if this is intended")
        return None

    def read(self, path: str, limit: int, what: str) -> bytes:
        """The bytes of the file at ``path`` (at most ``limit``) if it may be sent out, else :class:`InputError`."""
        refusal = self.refusal(path)
        if refusal:
            raise InputError(path, f"refusing to read it: {refusal}")
        return read_bytes(path, limit, what)


def project_refusal(path: str, description: str = "the project", root: str | None = None, folder: str | None = None,
                    resolve: bool = True) -> str | None:
    """Why ``path``, named by a project's own file (a dvc.yaml, the report settings) and relative to ``folder``, may
    not be read as a file of the project, or ``None`` when it may: a pull request must not make cml read, draw and
    publish other files of the machine.

    Refused: an absolute path, one under a ``.git`` folder (which holds the repository's credentials), and one
    outside the project. Without ``root`` only the text is checked and the project is the folder ``path`` is
    relative to (any ``..`` that leaves it is refused: for paths read from git as from the working tree); with
    ``root``, the project's folder on disk (``folder`` defaults to it), ``path`` must lead inside ``root``: with
    ``resolve``, once its symlinks are followed (a link out of the project is refused), else as written (for a git
    revision's files). ``description`` names the project in the reason, which ends with what to do.
    """
    if os.path.isabs(path) or path.startswith(("/", "\\")):
        return f"is an absolute path; give a path inside {description}"
    if root is None:
        parts = os.path.normpath(path.replace("\\", "/")).replace(os.sep, "/").split("/")
        if parts[0] == os.pardir:
            return f"is outside {description}; give a path inside it"
        if any(part.lower() == GIT_FOLDER for part in parts):
            return _IN_GIT_FOLDER
        return None
    joined = os.path.join(folder if folder is not None else root, path)
    written = os.path.normpath(os.path.abspath(joined))
    real = os.path.realpath(joined) if resolve else written
    if _in_git_folder(written) or _in_git_folder(real):
        return _IN_GIT_FOLDER
    given = os.path.normpath(os.path.abspath(root))
    if _within(real, given):  # a resolved path under ``root`` as given: ``root`` has no link to resolve
        return None
    top = os.path.realpath(root) if resolve else given
    if _within(real, top):
        return None
    if _within(written, top, given):  # a link in the path leads out
        return f"is outside {description} ({top}): it resolves to {real}; give a path inside it"
    return f"is outside {description} ({top}); give a path inside it"


_IN_GIT_FOLDER = "is inside the .git folder, which holds the repository's credentials; give a path outside it"


def _in_git_folder(path: str) -> bool:
    """:func:`is_under_git_folder` for a path already absolute and normalised."""
    lowered = path.lower()
    return GIT_FOLDER in lowered and GIT_FOLDER in lowered.split(os.sep)


def _within(path: str, *folders: str) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one (all absolute and normalised)."""
    return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)
