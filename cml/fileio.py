"""Reading inputs with user-facing errors, and writing outputs atomically.

Outputs are written to a temporary file in the destination folder and moved into
place, so a failed command never leaves a half-written report or image behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from collections.abc import Iterator

from cml.errors import InputError

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


def too_large(path, size: int | None, limit: int, what: str) -> InputError:
    """The error for a file of ``size`` bytes (``None``: not known) over the ``limit`` for ``what`` (``tables``)."""
    size_text = f"is {format_size(size)}, over" if size is not None else "is over"
    return InputError(path, f"{size_text} the {format_size(limit)} limit for {what}; cml does not read larger files")


def read_bytes(path, limit: int | None = None, what: str = "such files") -> bytes:
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


def decode_text(data: bytes, path) -> str:
    """Decode UTF-8 (with or without a byte-order mark), naming the file on failure."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(path, "is not UTF-8 text; save it as UTF-8", line=line) from None


def read_text(path) -> str:
    """Read a UTF-8 text file with errors that name it."""
    return decode_text(read_bytes(path), path)


@contextlib.contextmanager
def atomic_path(path, mode: int = 0o644) -> Iterator[str]:
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


def write_atomic(path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` atomically (text is written as UTF-8)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    with atomic_path(path) as temporary:
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
        except OSError as error:
            raise InputError(path, f"cannot be written: {error.strerror or error}") from None
