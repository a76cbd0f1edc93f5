"""Find the link and image destinations in a Markdown report, and rewrite only them.

The scanner recognises inline links and images (nested brackets, ``<…>``
destinations, titles), link reference definitions and HTML ``<img src>``, and
skips code blocks, code spans and HTML comments. Rewriting replaces the
destination's characters and nothing else, so every other byte of the report
stays as the user wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:\s|$)")
_DEFINITION = re.compile(r"^ {0,3}\[(?:[^\]\\]|\\.)+\]:[ \t]*(?:\n[ \t]*)?(?P<dest><[^<>\n]*>|\S+)")
_HTML_IMAGE = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*(?:"(?P<d>[^"]*)"|'(?P<s>[^']*)'|(?P<b>[^\s"'>]+))""", re.IGNORECASE)


@dataclass(frozen=True)
class Destination:
    """A link destination in the document: ``start``/``end`` cover its characters (inside any ``<>``)."""

    start: int
    end: int
    url: str
    kind: str
    line: int
    angle: bool = False


def _code_mask(text: str) -> list[tuple[int, int]]:
    """Character ranges that are code blocks (fenced or indented) or HTML comments."""
    ranges: list[tuple[int, int]] = []
    position = 0
    fence: str | None = None
    fence_start = 0
    previous_blank = True
    in_list = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if fence:
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                ranges.append((fence_start, position + len(line)))
                fence = None
        else:
            match = _FENCE.match(line)
            if match:
                fence, fence_start = match.group(1), position
            elif stripped and (line.startswith("    ") or line.startswith("\t")) and previous_blank and not in_list:
                ranges.append((position, position + len(line)))
                position += len(line)
                continue
            elif stripped:
                if _LIST_ITEM.match(line):
                    in_list = True
                elif not line[:1].isspace():
                    in_list = False
        previous_blank = not stripped
        position += len(line)
    if fence:
        ranges.append((fence_start, len(text)))
    for comment in re.finditer(r"<!--.*?-->", text, re.DOTALL):
        ranges.append(comment.span())
    return ranges


def _code_spans(text: str, skip) -> list[tuple[int, int]]:
    spans = []
    index = 0
    while index < len(text):
        if text[index] == "`" and not skip(index) and (index == 0 or text[index - 1] != "\\"):
            run = re.match(r"`+", text[index:]).group(0)
            closing = re.compile(r"(?<!`)" + run + r"(?!`)")
            found = closing.search(text, index + len(run))
            if found:
                spans.append((index, found.end()))
                index = found.end()
                continue
            index += len(run)
            continue
        index += 1
    return spans


def _matching_bracket(text: str, start: int) -> int | None:
    depth = 0
    index = start
    while index < len(text):
        character = text[index]
        if character == "\\":
            index += 2
            continue
        if character == "[":
            depth += 1
        elif character == "]":
            depth -= 1
            if depth == 0:
                return index
        elif character == "\n" and index + 1 < len(text) and text[index + 1] == "\n":
            return None
        index += 1
    return None


def _inline_destination(text: str, open_paren: int) -> tuple[int, int, bool] | None:
    """Span of the destination after ``(``; ``None`` if this is not an inline link."""
    index = open_paren + 1
    while index < len(text) and text[index] in " \t":
        index += 1
    if index < len(text) and text[index] == "<":
        end = text.find(">", index)
        if end == -1 or "\n" in text[index:end]:
            return None
        return index + 1, end, True
    start = index
    depth = 0
    while index < len(text):
        character = text[index]
        if character == "\\":
            index += 2
            continue
        if character.isspace():
            break
        if character == "(":
            depth += 1
        elif character == ")":
            if depth == 0:
                break
            depth -= 1
        index += 1
    return start, index, False


def find_destinations(text: str) -> list[Destination]:
    """Every link, image, definition and ``<img src>`` destination outside code, in document order."""
    blocked = _code_mask(text)

    def in_blocked(index: int, ranges=blocked) -> bool:
        return any(start <= index < end for start, end in ranges)

    spans = _code_spans(text, in_blocked)

    def skip(index: int) -> bool:
        return in_blocked(index) or any(start <= index < end for start, end in spans)

    found: list[Destination] = []
    line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def line_of(index: int) -> int:
        import bisect

        return bisect.bisect_right(line_starts, index)

    for match in re.finditer(r"(?m)" + _DEFINITION.pattern, text):
        if skip(match.start()):
            continue
        start, end = match.span("dest")
        angle = text[start] == "<"
        if angle:
            start, end = start + 1, end - 1
        found.append(Destination(start, end, text[start:end], "definition", line_of(start), angle))
    index = 0
    while True:
        index = text.find("[", index)
        if index == -1:
            break
        if skip(index) or (index > 0 and text[index - 1] == "\\"):
            index += 1
            continue
        close = _matching_bracket(text, index)
        if close is None or close + 1 >= len(text) or text[close + 1] != "(":
            index += 1
            continue
        span = _inline_destination(text, close + 1)
        if span is None:
            index += 1
            continue
        start, end, angle = span
        is_image = index > 0 and text[index - 1] == "!"
        found.append(Destination(start, end, text[start:end], "image" if is_image else "link", line_of(start), angle))
        index += 1
    for match in _HTML_IMAGE.finditer(text):
        group = next(name for name in ("d", "s", "b") if match.group(name) is not None)
        if not skip(match.start()):
            start, end = match.span(group)
            found.append(Destination(start, end, match.group(group), "html", line_of(start)))
    return sorted(found, key=lambda d: d.start)


def is_local_file(url: str) -> bool:
    """True for a relative or absolute file path; false for URLs, fragments, ``mailto:`` and ``data:``."""
    if not url or url.startswith(("#", "//")):
        return False
    parts = urlsplit(url)
    return not parts.scheme or (len(parts.scheme) == 1 and url[1:2] == ":")


def local_path(url: str) -> str:
    """The file path a local destination names (query and fragment dropped, %-escapes decoded)."""
    if re.match(r"^[A-Za-z]:[\\/]", url):
        return url
    return unquote(urlsplit(url.replace("\\", "/")).path)


def rewrite(text: str, replacements: dict[Destination, str]) -> str:
    """``text`` with each destination's characters replaced; a new URL with spaces gets ``<…>``."""
    parts = []
    position = 0
    for destination in sorted(replacements, key=lambda d: d.start):
        new = replacements[destination]
        if not destination.angle and destination.kind != "html" and re.search(r"[\s()<>]", new):
            new = "<" + new + ">"
        elif destination.kind == "html":
            new = new.replace('"', "%22").replace("'", "%27")
        parts.append(text[position:destination.start])
        parts.append(new)
        position = destination.end
    parts.append(text[position:])
    return "".join(parts)
