"""Render a Markdown report the way GitHub does, into one self-contained HTML file.

GitHub's own renderer (cmark-gfm, through ``cmarkgfm``) turns the Markdown into
HTML, which is then sanitised as GitHub does (``nh3``): a report is untrusted, so
no script, event handler, style, frame or ``javascript:`` URL reaches the browser,
and the page's Content-Security-Policy forbids scripts besides. Local images are
inlined as ``data:`` URIs afterwards so the file opens offline and can be attached
to a CI job as a single artifact, but only what publishing would send: images
(told by their content, not their name) inside the report's folder, the CI
workspace or an ``--allow-outside`` folder, not under ``.git``, carrying no token
of the job. Any other image is left as a link, with a warning.

Limits: the report is at most :data:`cml.fileio.MAX_REPORT_BYTES`; one with more than
:data:`cml.report.truncate.MAX_MARKUP` units of markup (cmark-gfm's memory grows with them) is rendered in a
child process of bounded memory (:mod:`cml.sandbox`), and refused if that child dies of it; the
images inlined into one page are at most :data:`MAX_INLINED_BYTES` together.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from cml.errors import InputError
from cml.fileio import MAX_REPORT_BYTES, Boundary, FilePath, decode_text, detect_mime_type, format_size, read_bytes
from cml.report.truncate import markup_overflow, too_much_markup
from cml.sandbox import run_bounded
from cml.secrets import contains_secret

#: The images inlined into one page, together; further images are left as links.
MAX_INLINED_BYTES = 64 * 1024 * 1024
#: Image types inlined (an SVG shown by ``<img>`` runs no script).
INLINED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")
#: The elements and attributes GitHub keeps when it renders Markdown (its html-pipeline sanitisation filter).
ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "br", "b", "i", "strong", "em", "a", "pre", "code", "img", "tt",
    "div", "ins", "del", "sup", "sub", "p", "ol", "ul", "table", "thead", "tbody", "tfoot", "blockquote", "dl", "dt",
    "dd", "kbd", "q", "samp", "var", "hr", "ruby", "rt", "rp", "li", "tr", "td", "th", "s", "strike", "summary",
    "details", "caption", "figure", "figcaption", "abbr", "bdo", "cite", "dfn", "mark", "small", "span", "time",
    "wbr", "input", "picture", "source", "col", "colgroup",
}
_COMMON_ATTRIBUTES = {
    "abbr", "align", "alt", "aria-describedby", "aria-hidden", "aria-label", "aria-labelledby", "axis", "border",
    "cellpadding", "cellspacing", "char", "charoff", "checked", "clear", "cols", "colspan", "color", "compact",
    "datetime", "dir", "disabled", "headers", "height", "hreflang", "hspace", "label", "lang", "media", "nowrap",
    "open", "role", "rows", "rowspan", "scope", "size", "span", "start", "summary", "title", "valign", "value",
    "vspace", "width",
}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON_ATTRIBUTES, "a": {"href"}, "img": {"src", "longdesc"}, "blockquote": {"cite"}, "del": {"cite"},
    "ins": {"cite"}, "q": {"cite"}, "source": {"srcset", "type"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data: http: https:; style-src 'unsafe-inline'"
#: GitHub-like styling, inlined into every page (read beside this module: importlib.resources costs start-up time).
STYLE_SHEET = Path(__file__).with_name("preview.css")
_IMAGE_SOURCE = re.compile(r"""(<img\b[^>]*?\bsrc=)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass
class Preview:
    """The rendered page, and why some local images were left as links (one line each)."""

    html: str
    warnings: list[str] = field(default_factory=list)


def markdown_to_html(markdown: str) -> str:
    """GitHub-flavoured Markdown to an HTML fragment (tables, task lists, autolinks, raw HTML), unsanitised.

    GitHub's tag filter applies: ``<script>``, ``<iframe>`` and similar tags are escaped.
    """
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def html_in_child(data: bytes, limit: Callable[[], None]) -> bytes:
    """In :func:`~cml.sandbox.run_bounded`'s child: :func:`markdown_to_html` of the report ``data``, sanitised
    (nh3's time grows faster than the square of the nesting, so it is bounded with cmark), once cmark and nh3 are
    loaded and the child's limits are set."""
    import cmarkgfm  # noqa: F401  loaded before the limits are set
    import nh3  # noqa: F401

    limit()
    return sanitise(markdown_to_html(data.decode("utf-8", "surrogatepass"))).encode("utf-8", "surrogatepass")


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    """``data:`` URLs only as the source of an image of an :data:`INLINED_TYPES` type."""
    if value.strip()[:5].lower() != "data:":
        return value
    image = element == "img" and attribute == "src"
    return value if image and value.strip()[5:].lower().startswith(INLINED_TYPES) else None


def sanitise(fragment: str) -> str:
    """``fragment`` with only what GitHub keeps: no script, event handler, style, frame, form, or URL other
    than http(s), mailto, relative, and ``data:`` images."""
    import nh3

    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     attribute_filter=_keep_attribute, tag_attribute_values={"input": {"type": {"checkbox"}}})


def _is_local(source: str) -> bool:
    parts = urlsplit(source)
    return not parts.scheme and not parts.netloc and not source.startswith("#") and bool(parts.path)


def inline_images(fragment: str, base_dir: str, boundary: Boundary | None = None) -> tuple[str, list[str]]:
    """Replace local ``<img src>`` paths (relative to ``base_dir``) that may be inlined with ``data:`` URIs;
    return the fragment and a warning for each image left as a link."""
    boundary = boundary or Boundary.for_folder(base_dir, {}, description="the report's folder")
    warnings: list[str] = []
    inlined: dict[str, str | None] = {}
    budget = MAX_INLINED_BYTES

    def left_as_link(source: str, reason: str) -> None:
        """Warn why ``source`` is not inlined; the caller then returns ``None``, leaving the link."""
        warnings.append(f"image '{source}' is left as a link: {reason}")

    def data_uri(source: str, path: str) -> str | None:
        nonlocal budget
        refusal = boundary.refusal(path)
        if refusal:
            left_as_link(source, refusal)
            return None
        if not os.path.isfile(path):
            warnings.append(f"image '{source}' not found; it is left as a broken link")
            return None
        if os.path.getsize(path) > budget:
            left_as_link(source, f"the page's inlined images would pass {format_size(MAX_INLINED_BYTES)}")
            return None
        try:
            data = read_bytes(os.path.realpath(path), budget)
        except InputError as error:
            left_as_link(source, str(error))
            return None
        kind = detect_mime_type(data)
        if contains_secret(data):
            left_as_link(source, "it contains a token or credential of this job")
            return None
        if kind not in INLINED_TYPES:
            left_as_link(source, "its content is not a PNG, JPEG, GIF, WebP or SVG image")
            return None
        budget -= len(data)
        return f"data:{kind};base64,{base64.b64encode(data).decode()}"

    def replace(match: re.Match) -> str:
        source = html.unescape(match.group(2) if match.group(2) is not None else match.group(3))
        if not _is_local(source):
            return match.group(0)
        path = os.path.join(base_dir, unquote(urlsplit(source).path))
        if path not in inlined:
            inlined[path] = data_uri(source, path)
        return match.group(0) if inlined[path] is None else f'{match.group(1)}"{inlined[path]}"'

    return _IMAGE_SOURCE.sub(replace, fragment), warnings


def render_page(markdown: str, base_dir: str = ".", title: str = "cml report", boundary: Boundary | None = None
                ) -> Preview:
    """A complete HTML page for ``markdown`` with GitHub-like styling, sanitised, with local images inlined
    from ``base_dir`` when ``boundary`` (default: ``base_dir`` itself) allows."""
    return _page(sanitise(markdown_to_html(markdown)), base_dir, title, boundary)


def _page(sanitised: str, base_dir: str, title: str, boundary: Boundary | None) -> Preview:
    """:func:`render_page` of the HTML fragment cmark made of the report."""
    fragment, warnings = inline_images(sanitised, base_dir, boundary)
    style = STYLE_SHEET.read_text(encoding="utf-8")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{style}</style>\n</head>\n"
        f"<body>\n<article class=\"markdown-body\">\n{fragment}</article>\n</body>\n</html>\n"
    )
    return Preview(page, warnings)


#: A line that starts with this many quote markers and indentation nests its HTML deep enough for sanitising to
#: take seconds (nh3: 1 s at 25,000 levels, 36 s at 100,000): such a report is rendered in the bounded child.
DEEP_NESTING = 1000
_DEEP_NESTING = re.compile(rb"(?m)^[ \t>]{%d}" % DEEP_NESTING)


def preview_file(markdown_path: FilePath, environ: Mapping[str, str] | None = None,
                 allow_outside: Iterable[str] = ()) -> Preview:
    """Render the Markdown file at ``markdown_path`` (at most :data:`MAX_REPORT_BYTES`); images resolve from
    its folder and are inlined from the same folders as publishing allows (``environ`` names the CI workspace)."""
    markdown = decode_text(read_bytes(markdown_path, MAX_REPORT_BYTES, "reports"), markdown_path)
    data = markdown.encode("utf-8", "surrogatepass")
    overflow = markup_overflow(data)
    deep = _DEEP_NESTING.search(data)
    if overflow is None and deep is not None:  # nh3's time grows faster than the square of the nesting
        overflow = data.count(b"\n", 0, deep.start()) + 1
    fragment = None
    if overflow is not None:  # perhaps a long log in a code block: cmark renders it in a child of bounded memory
        rendered = run_bounded("cml.report.preview:html_in_child", data)
        if rendered is None:
            raise InputError(markdown_path, too_much_markup("renders"), line=overflow)
        fragment = rendered.decode("utf-8", "surrogatepass")
    del data
    base_dir = os.path.dirname(os.path.abspath(markdown_path))
    boundary = Boundary.for_report(os.fspath(markdown_path), environ or {}, allow_outside)
    title = os.path.basename(os.fspath(markdown_path))
    return _page(sanitise(markdown_to_html(markdown)) if fragment is None else fragment, base_dir, title, boundary)
