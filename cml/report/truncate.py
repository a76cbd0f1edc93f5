"""Cut a Markdown report to a size limit without breaking its structure.

The cut falls on a line boundary (preferring a blank line near the limit), then
any open code fence and ``<details>`` block is closed, and a visible notice says
how much was cut and where the full report is.

:func:`markup_overflow` bounds what cmark-gfm is given of a report: its memory grows with the markup, not the size.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
PARAGRAPH_SEARCH = 2048


def _states(lines: list[str]) -> list[tuple[str | None, int]]:
    """After each prefix of ``lines`` (``lines[:k]`` for every ``k``): the code fence left open, if any, and how many
    more ``<details>`` than ``</details>`` there were outside code."""
    fence: str | None = None
    details = 0
    states = [(fence, details)]
    for line in lines:
        if fence:
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
        else:
            match = _FENCE.match(line)
            if match:
                fence = match["fence"]
            else:
                details += len(_DETAILS_OPEN.findall(line)) - len(_DETAILS_CLOSE.findall(line))
        states.append((fence, details))
    return states


def _closing(fence: str | None, details: int) -> list[str]:
    return ([fence] if fence else []) + ["</details>"] * max(details, 0)


def truncate_markdown(text: str, limit: int, full_report_hint: str = "") -> str:
    """``text`` if it fits in ``limit`` characters, else a structurally valid prefix plus a notice."""
    if len(text) <= limit:
        return text
    total = len(text)

    def notice(shown: int) -> str:
        where = f" {full_report_hint}" if full_report_hint else ""
        return f"\n\n---\n> **This report was truncated**: {shown:,} of {total:,} characters shown.{where}\n"

    budget = limit - len(notice(total)) - 64
    lines = text[: max(budget, 0)].split("\n")[:-1]
    kept = "\n".join(lines)
    blank = kept.rfind("\n\n")
    if blank != -1 and len(kept) - blank < min(PARAGRAPH_SEARCH, len(kept) // 4):
        kept = kept[:blank]
    lines = kept.split("\n") if kept else []
    # The longest run of whole lines that fits with its closers and the notice, in one pass: lines are dropped from
    # the end (a thousand "<details>" lines need a thousand closers), and the closers of every prefix are known.
    states = _states(lines)
    shown = len(kept)  # the length of "\n".join(lines[:count])
    for count in range(len(lines), -1, -1):
        fence, details = states[count]
        tail = (len(fence) + 1 if fence else 0) + (len("</details>") + 1) * max(details, 0)  # "\n" before each closer
        if shown + tail + len(notice(shown + tail)) <= limit or count == 0:
            closing = _closing(fence, details)
            result = "\n".join(lines[:count]) + ("\n" + "\n".join(closing) if closing else "")
            return result + notice(shown)
        shown -= len(lines[count - 1]) + (1 if count > 1 else 0)
    raise AssertionError("unreachable: no lines always fit")


#: The most Markdown markup cmark-gfm is given in one report: units of :func:`markup_overflow`, each of which costs
#: cmark at most some 500 bytes (a node, and the node of the text after it), so parsing stays under ~200 MiB.
MAX_MARKUP = 400_000
# Bytes that start no node, inline or block: a run of them is (part of) one text node. Every other byte counts as
# one unit, which bounds the nodes cmark makes: inline markup, line ends, list and quote markers ("- - - x" is eight
# nodes on a line), "w" and ":" of autolinks, "@" of e-mail ones, "=" of "<img src=" (a destination each), and ".",
# "'" and '"', which cost a node a byte at the start of a line (measured with cmark-gfm 0.29.0.gfm.13).
_PLAIN = bytes(sorted(set(b"abcdefghijklmnopqrstuvxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,(/%$;?{}^")
                      | set(range(0x80, 0x100))))
# A line that may be a table's delimiter row (in a quote or list item too): the table's rows, up to the next blank
# line, each get as many cells as it has columns, even a row of one character (autocompleted). cmark-gfm's table
# scanner takes "\v" and "\f" for spaces too (its ``spacechar``): "|-\v|-\v…" is a delimiter row.
_DELIMITER_ROW = re.compile(rb"(?m)(?:^|(?<=\r))[ \t\v\f>*+.)0-9|:-]+(?=\r|\n|\Z)")  # "\r" ends lines too
_BLANK_LINE = re.compile(rb"(?:\r\n|\r(?!\n)|\n)[ \t]*(?:\r|\n|\Z)")
_LINE_END = re.compile(rb"\r\n|\r|\n")


def too_much_markup(what: str) -> str:
    """Why a report :func:`markup_overflow` refuses is refused, and what to do, for an error on its line."""
    return (f"more than {MAX_MARKUP:,} characters of Markdown markup (punctuation, line ends, table cells) by this "
            f"line, more than cml {what} (each costs the parser some 500 bytes of memory); move long logs and tables "
            "into files the report links to, or shorten it")


def markup_overflow(data: bytes, limit: int = MAX_MARKUP) -> int | None:
    """The line (from 1) by which the UTF-8 Markdown ``data`` holds more than ``limit`` units of markup, or ``None``
    if it holds no more: each byte that may start an inline node of cmark-gfm is a unit, and each table cell it
    may make, so what cmark keeps in memory for ``data`` is at most some 500 bytes a unit. Linear, in C but for a
    loop over the delimiter rows (fewer than ``limit``)."""
    units = len(data.translate(None, _PLAIN))
    if units > limit:
        return _line_of(data, _crossing(data, limit))
    cells, run_end, first, widest = 0, -1, 0, 0
    for match in _DELIMITER_ROW.finditer(data):
        if b"-" not in match.group():
            continue
        if match.start() >= run_end:  # a new run of lines, from this row to the next blank line
            cells += widest * _lines(data, first, run_end)
            if units + cells > limit:
                return _line_of(data, first)
            blank = _BLANK_LINE.search(data, match.end())
            run_end, first, widest = blank.start() if blank else len(data), match.start(), 0
        widest = max(widest, match.group().count(b"|") + 1)
    cells += widest * _lines(data, first, run_end)
    return _line_of(data, first) if units + cells > limit else None


def _lines(data: bytes, start: int, end: int) -> int:
    if end <= start:
        return 0
    return data.count(b"\n", start, end) + data.count(b"\r", start, end) - data.count(b"\r\n", start, end) + 1


def _crossing(data: bytes, limit: int) -> int:
    """Where the units of ``data`` pass ``limit``."""
    units, start, step = 0, 0, 1 << 16
    while True:
        chunk = data[start:start + step]
        count = len(chunk.translate(None, _PLAIN))
        if units + count > limit:
            if step == 1:
                return start
            step //= 2
            continue
        units, start = units + count, start + step


def _line_of(data: bytes, offset: int) -> int:
    return sum(1 for _ in _LINE_END.finditer(data, 0, offset)) + 1
