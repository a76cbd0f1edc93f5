"""Cut a Markdown report to a size limit without breaking its structure.

The cut falls on a line boundary (preferring a blank line near the limit), then
any open code fence and ``<details>`` block is closed, and a visible notice says
how much was cut and where the full report is.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})")
_DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
PARAGRAPH_SEARCH = 2048


def _closers(lines: list[str]) -> list[str]:
    fence: str | None = None
    details = 0
    for line in lines:
        if fence:
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            continue
        match = _FENCE.match(line)
        if match:
            fence = match["fence"]
            continue
        details += len(_DETAILS_OPEN.findall(line)) - len(_DETAILS_CLOSE.findall(line))
    closing = [fence] if fence else []
    closing += ["</details>"] * max(details, 0)
    return closing


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
    while True:
        closing = _closers(lines)
        tail = ("\n" + "\n".join(closing)) if closing else ""
        result = "\n".join(lines) + tail
        if len(result) + len(notice(len(result))) <= limit or not lines:
            return result + notice(len("\n".join(lines)))
        lines.pop()
