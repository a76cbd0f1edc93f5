"""Files to publish, named by their content: the same bytes always get the same name.

A file whose name has no extension is named by the type its content shows (an image, PDF or ZIP
signature, SVG, UTF-8 text), never by a guess; one whose type cannot be told is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_to_bytes

from cml.errors import CmlError
from cml.fileio import detect_mime_type, format_size

#: Types Python's table lacks or gets wrong on some platforms, for files ML reports link to.
EXTRA_TYPES = {
    ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml", ".md": "text/markdown",
    ".yaml": "application/yaml", ".yml": "application/yaml", ".tsv": "text/tab-separated-values",
    ".csv": "text/csv", ".json": "application/json", ".log": "text/plain", ".ipynb": "application/x-ipynb+json",
    ".parquet": "application/vnd.apache.parquet", ".onnx": "application/octet-stream",
}
_EXTENSIONS_FOR_TYPE = {"image/jpeg": ".jpg", "image/svg+xml": ".svg", "text/plain": ".txt",
                        "text/markdown": ".md", "application/yaml": ".yaml", "application/octet-stream": ".bin"}
#: The longest ``data:`` URI decoded; longer ones are refused before any decoding.
MAX_DATA_URI_CHARACTERS = 4 * 1024 * 1024


class AssetError(CmlError):
    """A file cannot be published: too large, of a refused type, or an unreadable ``data:`` URI."""


def guess_mime_type(name: str, data: bytes = b"") -> str:
    """The MIME type for a file name, else from the content, else ``application/octet-stream``."""
    extension = os.path.splitext(name)[1].lower()
    if extension in EXTRA_TYPES:
        return EXTRA_TYPES[extension]
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or detect_mime_type(data) or "application/octet-stream"


def extension_for(mime_type: str) -> str:
    """A file extension for ``mime_type`` (``.png``), or ``""`` when there is none."""
    if mime_type in _EXTENSIONS_FOR_TYPE:
        return _EXTENSIONS_FOR_TYPE[mime_type]
    reverse = {value: key for key, value in EXTRA_TYPES.items()}
    return reverse.get(mime_type) or mimetypes.guess_extension(mime_type, strict=False) or ""


@dataclass(frozen=True)
class Asset:
    """Bytes to publish with their MIME type; :attr:`name` is the SHA-256 of the bytes plus the extension.

    ``origin`` says where the bytes came from (a path, or ``data: URI``) for messages.
    """

    data: bytes = field(repr=False)
    mime_type: str
    extension: str
    origin: str
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", hashlib.sha256(self.data).hexdigest())

    @property
    def name(self) -> str:
        return self.digest + self.extension

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith(("image/", "video/"))

    @classmethod
    def from_bytes(cls, data: bytes, origin: str, mime_type: str | None = None) -> Asset:
        """An asset named after ``origin``'s extension, else after the type its content shows (or ``mime_type``).

        Raises :class:`AssetError` when ``origin`` has no extension and the type cannot be told.
        """
        extension = os.path.splitext(origin)[1].lower()
        if not extension or len(extension) > 10 or not extension[1:].isalnum():
            mime_type = mime_type or detect_mime_type(data)
            if mime_type is None:
                raise AssetError(f"{origin}: cannot tell what kind of file it is: its name has no extension and "
                                 "its content is not an image, PDF, ZIP or UTF-8 text; give it an extension (.onnx…)")
            extension = extension_for(mime_type)
        return cls(data, mime_type or guess_mime_type(origin, data), extension, origin)

    @classmethod
    def from_data_uri(cls, uri: str) -> Asset:
        """Decode a ``data:[<type>][;base64],<data>`` URI (RFC 2397) of at most :data:`MAX_DATA_URI_CHARACTERS`."""
        if len(uri) > MAX_DATA_URI_CHARACTERS:
            raise AssetError(f"a data: URI of {format_size(len(uri))} is longer than "
                             f"{format_size(MAX_DATA_URI_CHARACTERS)}, the most cml decodes; link the file instead")
        header, comma, payload = uri[len("data:"):].partition(",")
        parameters = [part.strip() for part in header.split(";")]
        mime_type = parameters[0].lower() or "text/plain"
        if not comma or "/" not in mime_type:
            raise AssetError("cannot decode a data: URI (expected data:TYPE;base64,DATA)")
        if "base64" in (p.lower() for p in parameters[1:]):
            try:
                data = base64.b64decode("".join(unquote(payload).split()), validate=True)
            except (binascii.Error, ValueError):
                raise AssetError("cannot decode a data: URI (its base64 data is invalid)") from None
        else:
            data = unquote_to_bytes(payload)
        return cls(data, mime_type, extension_for(mime_type), "data: URI")

    def check_size(self, limit: int | None, backend: str) -> None:
        """Raise :class:`AssetError` naming the file when it is larger than ``backend`` accepts."""
        if limit is not None and self.size > limit:
            raise AssetError(
                f"{self.origin} is {format_size(self.size)}; {backend} accepts at most {format_size(limit)} per file. "
                "Make it smaller (a PNG of a plot rarely needs more than 1 MiB) or publish to S3 with --publish-url s3://…"
            )
