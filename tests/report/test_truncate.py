"""Cutting reports to a forge's size limit without breaking their structure."""

from cml.report.truncate import truncate_markdown


def test_short_text_is_untouched():
    assert truncate_markdown("# a\n\nb", 100) == "# a\n\nb"


def test_open_code_fence_and_details_are_closed():
    text = "<details><summary>log</summary>\n\n````text\n" + "line\n" * 5000 + "````\n</details>\n"
    cut = truncate_markdown(text, 2000, "Full report: attached.")
    assert len(cut) <= 2000
    head, notice = cut.split("\n\n---\n")
    assert head.endswith("\n````\n</details>")
    assert "This report was truncated" in notice and "Full report: attached." in notice


def test_cut_prefers_a_paragraph_break_and_never_splits_a_line():
    paragraphs = "\n\n".join(f"paragraph {i} " + "word " * 30 for i in range(200))
    cut = truncate_markdown(paragraphs, 5000)
    body = cut.split("\n\n---\n")[0]
    assert body.endswith("word ") and paragraphs.startswith(body)


def test_closed_fence_is_not_reopened():
    text = "```\ncode\n```\n\n" + "row\n" * 3000
    body = truncate_markdown(text, 1000).split("\n\n---\n")[0]
    assert body.count("```") == 2


def _reference_cut(text, limit, hint=""):
    """The cut as first written: drop the last line and recount every closer until the rest fits (quadratic)."""
    import re

    from cml.report.truncate import PARAGRAPH_SEARCH

    if len(text) <= limit:
        return text

    def notice(shown):
        where = f" {hint}" if hint else ""
        return f"\n\n---\n> **This report was truncated**: {shown:,} of {len(text):,} characters shown.{where}\n"

    def closers(lines):
        fence, details = None, 0
        for line in lines:
            if fence:
                stripped = line.strip()
                if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                    fence = None
                continue
            match = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
            if match:
                fence = match[1]
                continue
            details += len(re.findall(r"(?i)<details\b", line)) - len(re.findall(r"(?i)</details\s*>", line))
        return ([fence] if fence else []) + ["</details>"] * max(details, 0)

    kept = "\n".join(text[: max(limit - len(notice(len(text))) - 64, 0)].split("\n")[:-1])
    blank = kept.rfind("\n\n")
    if blank != -1 and len(kept) - blank < min(PARAGRAPH_SEARCH, len(kept) // 4):
        kept = kept[:blank]
    lines = kept.split("\n") if kept else []
    while True:
        closing = closers(lines)
        result = "\n".join(lines) + (("\n" + "\n".join(closing)) if closing else "")
        if len(result) + len(notice(len(result))) <= limit or not lines:
            return result + notice(len("\n".join(lines)))
        lines.pop()


def test_the_cut_is_the_one_that_recounts_the_closers_after_every_dropped_line():
    import random

    pieces = ["<details>", "</details>", "<DETAILS open>", "</details >", "```", "~~~~", "````", " ```py", "    ```",
              "`", "text", "é", " ", "\n", "\n\n"]
    generator = random.Random(5)
    truncated = 0
    for _ in range(3000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 80)))
        limit, hint = generator.randint(0, 400), generator.choice(["", "Full report: attached."])
        cut = truncate_markdown(text, limit, hint)
        assert cut == _reference_cut(text, limit, hint), (text, limit, hint)
        truncated += cut != text
    assert truncated > 1000


def test_a_megabyte_of_details_openings_is_cut_in_linear_time():
    import time

    text = "<details>\n" * 100_000  # each kept line needs its own closer: the cut drops half of them
    started = time.thread_time()
    cut = truncate_markdown(text, 65_536)
    assert time.thread_time() - started < 0.5  # recounting the closers after every dropped line took 5-9 s
    assert len(cut) <= 65_536
    body = cut.split("\n\n---\n")[0]
    assert body.count("<details>") == body.count("</details>") > 2900
