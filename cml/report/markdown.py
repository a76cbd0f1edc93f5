"""Markdown and terminal rendering shared by every report block."""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
from typing import Any, Literal
from collections.abc import Callable, Sequence

MISSING = "—"
#: How a block is rendered: Markdown (``md``), JSON (``json``) or a plain-text table for a terminal (``table``).
OutputFormat = Literal["md", "json", "table"]
#: How a table column is aligned.
Alignment = Literal["left", "right"]


def format_number(value: Any, precision: int = 5) -> str:
    """Format a value for a table: numbers rounded to ``precision`` decimals, trailing zeros dropped.

    Values too small to show at that precision keep ``precision`` significant digits
    instead of collapsing to 0.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and abs(value) < 0.5 * 10 ** (-precision):
            return f"{value:.{max(precision, 1)}g}"
        text = f"{value:.{precision}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value)


def format_signed(value: float, precision: int = 5) -> str:
    """A change with its sign: ``+0.02``, ``-1.5``, ``0``."""
    text = format_number(value, precision)
    if text in ("0", "nan") or text.startswith("-"):
        return text
    return "+" + text


def format_percent(value: float | None) -> str:
    """A relative change as a signed percentage with two decimals."""
    if type(value) is float and value - value == 0.0:  # finite: nearly every call
        return f"{value * 100:+.2f}%"
    if value is None or math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "+inf%" if value > 0 else "-inf%"
    return f"{value * 100:+.2f}%"


def number_formatter(precision: int = 5) -> Callable[[Any], str]:
    """:func:`format_number` with ``precision`` fixed, for a whole column: the format specifications and the
    smallest number shown in fixed point are worked out once, and a finite float (nearly every cell) takes a short
    path. Anything else goes to :func:`format_number`, so the text is always the same."""
    try:
        smallest = 0.5 * 10 ** (-precision)
        fixed = f".{precision}f"
        general = f".{max(precision, 1)}g"
        format(0.5, fixed)
    except (OverflowError, ValueError, TypeError):  # a precision format_number itself refuses on its first float
        return functools.partial(_format_number_at, precision)

    def format_value(value: Any) -> str:
        if type(value) is not float or value - value != 0.0:  # not a float, or NaN or infinite
            return format_number(value, precision)
        if value != 0 and -smallest < value < smallest:
            return format(value, general)
        text = format(value, fixed).rstrip("0").rstrip(".") if precision else format(value, fixed)
        return "0" if text == "-0" or not text else text

    return format_value


def _format_number_at(precision: int, value: Any) -> str:
    return format_number(value, precision)


def signed_formatter(precision: int = 5) -> Callable[[float], str]:
    """:func:`format_signed` with ``precision`` fixed (see :func:`number_formatter`)."""
    format_value = number_formatter(precision)

    def format_change(value: float) -> str:
        text = format_value(value)
        if text == "0" or text == "nan" or text.startswith("-"):
            return text
        return "+" + text

    return format_change


def escape_html(text: Any) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as entities, so data shows literally and never becomes HTML."""
    # html.escape(text, quote=False), without importing html (and its table of entities) at start-up
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_inline(text: Any) -> str:
    """``text`` shown literally in a line of Markdown: HTML as entities, Markdown punctuation backslash-escaped,
    line breaks as spaces."""
    escaped = re.sub(r"([\\`*_\[\]!~|#])", r"\\\1", escape_html(text))
    return re.sub(r"\s+", " ", escaped)


def inline_code(text: str) -> str:
    """``text`` as a Markdown code span, fenced with more backticks than it holds (HTML-escaping is not needed
    there)."""
    text = re.sub(r"\s+", " ", text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def escape_cell(text: Any) -> str:
    """Make ``text`` safe inside a GitHub-flavoured Markdown table cell: literal HTML, pipes and backslashes;
    line breaks (``\\r\\n``, ``\\n`` or a lone ``\\r``, which would end the table row) become the ``<br>`` cml
    itself writes."""
    return str(text).replace("\r\n", "\n").translate(_CELL_ESCAPES)


# One character at a time, as html.escape then the backslash, pipe and line-break replacements did.
_CELL_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "|": "\\|", "\n": "<br>",
                               "\r": "<br>"})
_CELL_SPECIALS = "&<>\\|\r\n"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: Sequence[Alignment] | None = None) -> str:
    """A GitHub-flavoured Markdown pipe table; ``align`` holds ``left``/``right`` per column (left by default).

    Every cell goes through :func:`escape_cell`; each row has one cell per header."""
    texts: Sequence[Sequence[str]]
    if set(map(type, itertools.chain.from_iterable(rows))) <= {str}:  # nothing to convert: the common case, in C
        texts = rows
    else:
        texts = [list(map(str, row)) for row in rows]
    joined = "".join(itertools.chain.from_iterable(texts))
    if any(map(joined.__contains__, _CELL_SPECIALS)):
        texts = [[escape_cell(cell) for cell in row] for row in texts]
    return render_table_text([escape_cell(header) for header in headers], texts, align, "pipe")


def terminal_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: Sequence[Alignment] | None = None) -> str:
    """A plain-text table for a terminal: columns two spaces apart under a dashed rule; a cell with line breaks
    spans several lines."""
    return render_table_text([str(header) for header in headers], [[str(cell) for cell in row] for row in rows],
                             align, "simple")


#: ``pipe``: a Markdown pipe table with ``:`` alignment marks; ``simple``: columns under a dashed rule.
TableStyle = Literal["pipe", "simple"]
# Terminal colours and hyperlinks take no room on screen; the same pattern as tabulate's.
_ANSI_SEQUENCE = re.compile(
    r"""
    (
        \x1b\[ [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]
    |
        \x1b\]8; (\w+=\w+:?)* ; ([^\x1b]+) \x1b\\ ([^\x1b]+) \x1b\]8;;\x1b\\
    )
    """,
    re.VERBOSE,
)
_LINE_BREAK = re.compile("[\r\n]")
_HEADER_LINE_BREAK = re.compile("\r|\n|\r\n")
_HEADER_MARGIN = 2


def render_table_text(headers: Sequence[str], rows: Sequence[Sequence[str]],
                      align: Sequence[Alignment] | None = None, style: TableStyle = "pipe") -> str:
    """``rows`` of already formatted cells under ``headers``, as a ``pipe`` (Markdown) or ``simple`` (terminal)
    table, byte for byte as ``tabulate(rows, headers, tablefmt=style, colalign=align, disable_numparse=True)``
    with wide characters on.

    Widths are display widths (``wcwidth.wcswidth``: East Asian wide characters and emoji count 2, combining
    marks 0; terminal colour codes nothing). Cells lose surrounding whitespace; headers are at least two
    columns narrower than their column; ``align`` applies only when there are rows. One difference from
    tabulate: a row whose first or second cell is ``"\\x01"`` stays a row (tabulate drew a rule instead and
    dropped it).
    """
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"each row needs {len(headers)} cells, one per header")
    if not headers:
        return ""
    if align and any(alignment not in ("left", "right") for alignment in align):
        raise ValueError(f"alignments are left or right, not {list(align)}")
    text = "\t".join(itertools.chain(headers, itertools.chain.from_iterable(rows)))
    # tabulate looked for colour codes in this very string (a code could span two cells)
    has_invisible = "\x1b" in text and _ANSI_SEQUENCE.search(text) is not None
    multiline = "\n" in text or "\r" in text
    del text
    line_width = _visible_width if has_invisible else _display_width

    def multiline_width(text: str) -> int:
        return max(map(line_width, _LINE_BREAK.split(text)))

    width = multiline_width if multiline else line_width
    aligns: list[str] = []
    columns: list[list[str]] = []
    widths: list[int] = []
    if rows:
        aligns = ["left"] * len(headers)
        for index, given in enumerate((align or [])[:len(headers)]):
            aligns[index] = given
        for header, alignment, raw_cells in zip(headers, aligns, zip(*rows)):
            minimum = width(header) + _HEADER_MARGIN
            cells = list(map(str.strip, raw_cells))
            pad = _multiline_column if multiline else _single_line_column
            padded, column_width = pad(cells, alignment == "right", minimum, line_width, width)
            columns.append(padded)
            widths.append(column_width)
    else:
        widths = [max(width(header) + _HEADER_MARGIN, 0) for header in headers]
    header_aligns = aligns or ["left"] * len(headers)
    header_cells = [_pad_header(header, alignment == "right", column_width, width, multiline)
                    for header, alignment, column_width in zip(headers, header_aligns, widths)]
    rows_of_cells = list(zip(*columns)) if columns else []
    if style == "pipe":
        rule = "|" + "|".join(_pipe_rule_segment(alignment, column_width + 2)
                              for alignment, column_width in zip(aligns or [""] * len(widths), widths)) + "|"
        begin, separator, end, margin = "|", "|", "|", " "
    else:
        rule = "  ".join("-" * column_width for column_width in widths).rstrip()
        begin, separator, end, margin = "", "  ", "", ""
    lines: list[str] = []

    # the row as tabulate joined it: each cell with its margins, between ``begin`` and ``end``, trailing spaces cut
    head, joint, tail = begin + margin, margin + separator + margin, margin + end

    def add_row_line(cells: Sequence[str]) -> None:
        lines.append((head + joint.join(cells) + tail).rstrip())

    def add_row(cells: Sequence[str]) -> None:
        if not multiline:
            add_row_line(cells)
            return
        cell_lines = [cell.splitlines() for cell in cells]
        count = max(map(len, cell_lines))
        cell_lines = [text + [" " * column_width] * (count - len(text)) for text, column_width in zip(cell_lines, widths)]
        for number in range(count):
            add_row_line([text[number] for text in cell_lines])

    add_row(header_cells)
    lines.append(rule)
    if multiline:
        for row in rows_of_cells:
            add_row(row)
    elif style != "pipe":
        lines.extend((head + joint.join(row) + tail).rstrip() for row in rows_of_cells)
    elif rows_of_cells:  # pipe rows end with "|": nothing to cut, so they are joined in C as one text
        lines.append(head + (tail + "\n" + head).join(map(joint.join, rows_of_cells)) + tail)
    return "\n".join(lines)


def _display_width(text: str) -> int:
    if text.isascii() and text.isprintable():
        return len(text)
    rest = text.translate(_DROP_KNOWN_WIDTHS)
    if rest.isascii() and rest.isprintable():  # printable ASCII and the symbols cml writes: no wcwidth import
        return len(rest) + sum(_KNOWN_WIDTHS[character] for character in text if character in _KNOWN_WIDTHS)
    return _wcswidth()(text)


#: The display widths (as ``wcwidth.wcswidth`` gives them; a test pins them) of the symbols cml writes in tables: the
#: missing-value dash and the status marks of a metrics diff.
_KNOWN_WIDTHS = {MISSING: 1, "✅": 2, "❌": 2, "➕": 2, "➖": 2}
_DROP_KNOWN_WIDTHS = str.maketrans(dict.fromkeys(_KNOWN_WIDTHS))


@functools.cache
def _wcswidth() -> Callable[[str], int]:
    """wcwidth's ``wcswidth``, imported on the first cell that is not plain ASCII."""
    from wcwidth import wcswidth

    return wcswidth


def _visible_width(text: str) -> int:
    return _display_width(_ANSI_SEQUENCE.sub(r"\4", text))


def _pad(text: str, right: bool, width: int) -> str:
    """``text`` padded with spaces to ``width`` characters (not display columns), never cut."""
    return text.rjust(width) if right else text.ljust(width)


def _single_line_column(cells: list[str], right: bool, minimum: int, line_width: Callable[[str], int],
                        width: Callable[[str], int]) -> tuple[list[str], int]:
    joined = "".join(cells)
    if joined.isascii() and joined.isprintable():  # every cell as wide as it is long: the common case, in C
        target = max(max(map(len, cells)), minimum)
        pad = str.rjust if right else str.ljust
        return list(map(pad, cells, itertools.repeat(target, len(cells)))), target
    # each distinct cell measured once: a column repeats a few values (statuses, paths, "—") many times
    cell_widths: dict[str, int] = {}
    for cell in cells:
        if cell not in cell_widths:
            cell_widths[cell] = line_width(cell)
    target = max(max(cell_widths.values()), minimum)
    padded: dict[str, str] = {}
    column_width = minimum
    for cell, cell_width in cell_widths.items():
        text = padded[cell] = _pad(cell, right, target - cell_width + len(cell))
        # padding printable ASCII makes it exactly ``target`` wide; anything else is measured again
        shown = target if cell_width == len(cell) and cell.isascii() and cell.isprintable() else width(text)
        column_width = max(column_width, shown)
    return list(map(padded.__getitem__, cells)), column_width


def _multiline_column(cells: list[str], right: bool, minimum: int, line_width: Callable[[str], int],
                      width: Callable[[str], int]) -> tuple[list[str], int]:
    line_widths = [[line_width(line) for line in _LINE_BREAK.split(cell)] for cell in cells]
    target = max(max(max(widths) for widths in line_widths), minimum)
    padded = []
    for cell, widths in zip(cells, line_widths):
        lengths = [len(line) for line in _LINE_BREAK.split(cell)]
        targets = [target - (shown - length) for shown, length in zip(widths, lengths)]
        padded.append("\n".join(_pad(line, right, line_target)
                                 for line, line_target in zip(cell.splitlines() or cell, targets)))
    return padded, max(minimum, max(width(text) for text in padded))


def _pad_header(header: str, right: bool, column_width: int, width: Callable[[str], int], multiline: bool) -> str:
    if multiline:
        return "\n".join(_pad_header(line, right, column_width, width, False)
                         for line in _HEADER_LINE_BREAK.split(header))
    return _pad(header, right, column_width + len(header) - width(header))


def _pipe_rule_segment(alignment: str, width: int) -> str:
    if alignment == "right":
        return "-" * (width - 1) + ":"
    if alignment == "left":
        return ":" + "-" * (width - 1)
    return "-" * width


def image_markdown(title: str, path: str) -> str:
    """``![title](path)``, with the path wrapped in ``<>`` when it has spaces or parentheses."""
    # The title may come from a pull request (dvc.yaml, file names): a line break or a trailing backslash
    # would end the image early and let the rest render as Markdown or HTML.
    alt = re.sub(r"\s+", " ", re.sub(r"([\\\[\]])", r"\\\1", escape_html(title)))
    target = path.replace("\\", "/")
    if re.search(r"[\s()<>]", target):
        target = "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"
    return f"![{alt}]({target})"


def link_target(path: str | os.PathLike, relative_to: str | os.PathLike | None = None) -> str:
    """``path`` as a link in a Markdown file in the folder ``relative_to`` (whether or not that file exists
    yet), with ``/`` separators; absolute only where no relative path exists (another drive). Without
    ``relative_to``, ``path`` as given."""
    path = os.fspath(path)
    if relative_to is not None:
        try:
            path = os.path.relpath(os.path.abspath(path), os.path.abspath(os.fspath(relative_to)))
        except ValueError:
            path = os.path.abspath(path)
    return path.replace(os.sep, "/")
