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
