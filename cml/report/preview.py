"""Render a Markdown report the way GitHub does, into one self-contained HTML file.

GitHub's own renderer (cmark-gfm, through ``cmarkgfm``) turns the Markdown into
HTML; local images are inlined as ``data:`` URIs so the file opens offline and
can be attached to a CI job as a single artifact.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import unquote, urlsplit

from cml.fileio import decode_text, read_bytes

_IMAGE_SOURCE = re.compile(r"""(<img\b[^>]*?\bsrc=)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".gif": "image/gif", ".webp": "image/webp"}


@dataclass
class Preview:
    """The rendered page and the local images that could not be inlined."""

    html: str
    missing_images: list[str] = field(default_factory=list)


def markdown_to_html(markdown: str) -> str:
    """GitHub-flavoured Markdown to an HTML fragment (tables, task lists, autolinks, raw HTML).

    GitHub's tag filter still applies: ``<script>``, ``<iframe>`` and similar tags are escaped.
    """
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def _is_local(source: str) -> bool:
    parts = urlsplit(source)
    return not parts.scheme and not parts.netloc and not source.startswith("#") and bool(parts.path)


def inline_images(fragment: str, base_dir: str) -> tuple[str, list[str]]:
    """Replace local ``<img src>`` paths (relative to ``base_dir``) with ``data:`` URIs."""
    missing: list[str] = []
    cache: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        source = html.unescape(match.group(2) if match.group(2) is not None else match.group(3))
        if not _is_local(source):
            return match.group(0)
        path = os.path.join(base_dir, unquote(urlsplit(source).path))
        if path not in cache:
            if not os.path.isfile(path):
                missing.append(source)
                return match.group(0)
            kind = _IMAGE_TYPES.get(os.path.splitext(path)[1].lower()) or mimetypes.guess_type(path)[0] or "application/octet-stream"
            cache[path] = f"data:{kind};base64,{base64.b64encode(read_bytes(path)).decode()}"
        return f'{match.group(1)}"{cache[path]}"'

    return _IMAGE_SOURCE.sub(replace, fragment), missing


def render_page(markdown: str, base_dir: str = ".", title: str = "cml report") -> Preview:
    """A complete HTML page for ``markdown`` with GitHub-like styling and inlined images."""
    fragment, missing = inline_images(markdown_to_html(markdown), base_dir)
    style = resources.files("cml.report").joinpath("preview.css").read_text(encoding="utf-8")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{style}</style>\n</head>\n"
        f"<body>\n<article class=\"markdown-body\">\n{fragment}</article>\n</body>\n</html>\n"
    )
    return Preview(page, missing)


def preview_file(markdown_path) -> Preview:
    """Render the Markdown file at ``markdown_path``; images resolve from its folder."""
    markdown = decode_text(read_bytes(markdown_path), markdown_path)
    base_dir = os.path.dirname(os.path.abspath(markdown_path))
    return render_page(markdown, base_dir, title=os.path.basename(os.fspath(markdown_path)))
