"""Markdown and terminal rendering shared by every report block."""

from __future__ import annotations

import html
import math
import os
import re
from typing import Any, Literal
from collections.abc import Sequence

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
    if value is None or math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "+inf%" if value > 0 else "-inf%"
    return f"{value * 100:+.2f}%"


def escape_html(text: Any) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as entities, so data shows literally and never becomes HTML."""
    return html.escape(str(text), quote=False)


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
    line breaks become the ``<br>`` cml itself writes."""
    escaped = escape_html(text).replace("\\", "\\\\").replace("|", "\\|")
    return escaped.replace("\r\n", "<br>").replace("\n", "<br>")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: Sequence[Alignment] | None = None) -> str:
    """A GitHub-flavoured Markdown pipe table; ``align`` holds ``left``/``right`` per column."""
    from tabulate import tabulate

    return tabulate(
        [[escape_cell(cell) for cell in row] for row in rows],
        headers=[escape_cell(h) for h in headers],
        tablefmt="pipe",
        colalign=list(align) if align else None,
        disable_numparse=True,
    )


def terminal_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                   align: Sequence[Alignment] | None = None) -> str:
    """A plain-text table for a terminal."""
    from tabulate import tabulate

    return tabulate(
        [[str(cell) for cell in row] for row in rows],
        headers=list(headers),
        tablefmt="simple",
        colalign=list(align) if align else None,
        disable_numparse=True,
    )


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
