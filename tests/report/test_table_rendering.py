"""cml's own pipe (Markdown) and simple (terminal) tables: byte for byte what tabulate wrote, without its cost."""

from __future__ import annotations

import html
import random
import subprocess
import sys

import pytest
from tabulate import tabulate

from cml.report.markdown import escape_cell, markdown_table, render_table_text, terminal_table

#: Pieces cells are built from: each kind of character whose width or escaping differs.
ASCII = ["a", "Z", "0", "7", ".", "-", "_", " ", "metric", "val_loss", "1.5e-05", "+0.02", "-3.25%", "—"]
MARKDOWN_SPECIAL = ["|", "\\", "\\|", "<b>", "&", "&amp;", "`", "*", "[x]"]
WIDE = ["中", "文字", "測試", "ｶ", "Ｗ", "한국어", "あ"]
EMOJI = ["😀", "🚀", "✅", "👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f", "🇫🇷", "☺\ufe0e"]
COMBINING = ["e\u0301", "a\u0308", "\u0301", "n\u0303", "क्ष", "\u200b", "\u00ad"]
AMBIGUOUS_AND_OTHER = ["±", "°", "×", "é", "ß", "Ω", "\u00a0", "\u3000", "\t"]
CONTROL = ["\x00", "\x7f", "\x1b", "\x1b[31m", "\x1b[0m", "\x1b[1;32m", "\x9b"]
LINE_BREAKS = ["\n", "\r\n", "\r"]
HYPERLINK = "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\"


def random_cell(rng: random.Random, kinds: list[list[str]]) -> str:
    roll = rng.random()
    if roll < 0.08:
        return ""
    if roll < 0.11:
        return " " * rng.randint(1, 3)
    if roll < 0.14:
        return "x" * rng.randint(40, 90)  # a long cell
    pieces = [rng.choice(rng.choice(kinds)) for _ in range(rng.randint(1, 6))]
    if rng.random() < 0.1:
        pieces.insert(0, " ")  # surrounding whitespace, which both drop
    if rng.random() < 0.1:
        pieces.append(" ")
    return "".join(pieces)


def random_table(rng: random.Random, kinds: list[list[str]]) -> tuple[list[str], list[list[str]], list[str] | None]:
    columns = rng.choice([1, 1, 2, 3, 5, 7])
    rows = rng.choice([0, 1, 1, 2, 5, 20])
    headers = [random_cell(rng, kinds) if rng.random() < 0.8 else "h" * rng.randint(10, 30) for _ in range(columns)]
    body = [[random_cell(rng, kinds) for _ in range(columns)] for _ in range(rows)]
    align_choice = rng.random()
    if align_choice < 0.25:
        align = None
    else:
        # sometimes fewer alignments than columns: the rest stay left
        align = [rng.choice(["left", "right"]) for _ in range(rng.randint(max(columns - 1, 1), columns))]
    return headers, body, align


def tabulated(headers: list[str], rows: list[list[str]], align: list[str] | None, style: str) -> str:
    return tabulate(rows, headers=headers, tablefmt=style, colalign=align if align else None, disable_numparse=True)


def is_tabulate_separator(rows: list[list[str]]) -> bool:
    """tabulate turns a row whose first or second cell is ``\\x01`` into a rule (the one place cml differs)."""
    return any(cell.strip() == "\x01" for row in rows for cell in row[:2])


SINGLE_LINE_KINDS = [ASCII, ASCII, MARKDOWN_SPECIAL, WIDE, EMOJI, COMBINING, AMBIGUOUS_AND_OTHER]


@pytest.mark.parametrize("style", ["pipe", "simple"])
@pytest.mark.parametrize("kinds, seed", [
    (SINGLE_LINE_KINDS, 1),
    (SINGLE_LINE_KINDS + [CONTROL, [HYPERLINK]], 2),
    (SINGLE_LINE_KINDS + [LINE_BREAKS, LINE_BREAKS], 3),
    (SINGLE_LINE_KINDS + [LINE_BREAKS, CONTROL, [HYPERLINK]], 4),
    ([ASCII], 5),
], ids=["unicode", "control-codes", "line-breaks", "everything", "ascii"])
def test_random_tables_match_tabulate_byte_for_byte(kinds, seed, style):
    rng = random.Random(seed)
    compared = 0
    for _ in range(400):
        headers, rows, align = random_table(rng, kinds)
        if is_tabulate_separator(rows):
            continue
        expected = tabulated(headers, rows, align, style)
        assert render_table_text(headers, rows, align, style) == expected, (headers, rows, align)
        compared += 1
    assert compared > 380


@pytest.mark.parametrize("seed", range(3))
def test_markdown_and_terminal_tables_match_tabulate_for_any_cell_values(seed):
    """What the public functions did before: tabulate over escaped (Markdown) or ``str()`` (terminal) cells."""
    rng = random.Random(100 + seed)
    kinds = SINGLE_LINE_KINDS + [LINE_BREAKS, CONTROL]
    for _ in range(300):
        headers, rows, align = random_table(rng, kinds)
        values = [[rng.choice([cell, cell, None, 3, -0.5, float("nan"), True]) for cell in row] for row in rows]
        text_rows = [[str(value) for value in row] for row in values]
        if is_tabulate_separator(text_rows):
            continue
        escaped = [[escape_cell(value) for value in row] for row in values]
        assert markdown_table(headers, values, align) == tabulated(
            [escape_cell(h) for h in headers], escaped, align, "pipe")
        assert terminal_table(headers, values, align) == tabulated(headers, text_rows, align, "simple")


def test_large_tables_match_tabulate():
    rng = random.Random(7)
    headers = ["Path", "Metric", "main", "workspace", "Change", "Change %", "Status"]
    align = ["left", "left", "right", "right", "right", "right", "left"]
    rows = [[f"metrics/{i % 10}.json", f"group.{rng.choice(WIDE + ASCII)}.m{i}", f"{rng.random():.5f}",
             f"{rng.random():.5f}", f"{rng.uniform(-1, 1):+.5f}", f"{rng.uniform(-50, 50):+.2f}%",
             rng.choice(["", "new", "✅ better", "❌ worse"])] for i in range(3000)]
    for style in ("pipe", "simple"):
        assert render_table_text(headers, rows, align, style) == tabulated(headers, rows, align, style)


def test_a_markdown_table_escapes_and_aligns_with_colons():
    table = markdown_table(["Name", "Value"], [["a|b", "1"], ["中文", "22"], ["", "333"]], ["left", "right"])
    assert table == (
        "| Name   |   Value |\n"
        "|:-------|--------:|\n"
        "| a\\|b   |       1 |\n"
        "| 中文   |      22 |\n"
        "|        |     333 |"
    )


def test_wide_characters_and_emoji_count_two_columns_and_combining_marks_none():
    table = terminal_table(["k", "v"], [["中文", "x"], ["😀", "y"], ["e\u0301e\u0301", "z"]])
    assert table.splitlines() == [
        "k     v",
        "----  ---",
        "中文  x",
        "😀    y",
        "e\u0301e\u0301    z",
    ]


def test_headers_longer_than_cells_keep_two_columns_of_margin():
    assert markdown_table(["a long header", "b"], [["x", "y"]], ["right", "left"]) == (
        "|   a long header | b   |\n"
        "|----------------:|:----|\n"
        "|               x | y   |"
    )


def test_one_column_and_zero_rows():
    assert markdown_table(["Metric"], [["acc"]]) == "| Metric   |\n|:---------|\n| acc      |"
    # no rows: no alignment marks (tabulate's way), headers still padded
    assert markdown_table(["Path", "Value"], [], ["left", "right"]) == "| Path   | Value   |\n|--------|---------|"
    assert terminal_table(["Path", "Value"], []) == "Path    Value\n------  -------"
    assert markdown_table([], []) == "" and terminal_table([], []) == ""


def test_a_terminal_cell_with_line_breaks_spans_lines():
    assert terminal_table(["name", "note"], [["a", "first\nsecond"], ["bb", "x"]], ["right", "left"]).splitlines() == [
        "  name  note",
        "------  ------",
        "     a  first",
        "        second",
        "    bb  x",
    ]


def test_a_lone_carriage_return_does_not_end_a_markdown_row():
    assert escape_cell("a\rb\r\nc\nd") == "a<br>b<br>c<br>d"
    assert markdown_table(["h"], [["a\rb"]]).splitlines() == ["| h      |", "|:-------|", "| a<br>b |"]


def test_escaping_a_cell_is_what_the_chain_of_replacements_did():
    def replaced(text: str) -> str:
        escaped = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|")
        return escaped.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")

    rng = random.Random(11)
    pieces = ASCII + MARKDOWN_SPECIAL + WIDE + LINE_BREAKS + ["&lt;", "\\\\", "\r\r\n\n", ">"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert escape_cell(text) == replaced(text), text


def test_a_cell_holding_only_the_tabulate_separator_mark_stays_data():
    lines = terminal_table(["a", "b"], [["\x01", "x"], ["y", "z"]]).splitlines()
    assert len(lines) == 4 and lines[2].startswith("\x01") and lines[2].endswith(" x") and lines[3].startswith("y")
    assert tabulate([["\x01", "x"], ["y", "z"]], headers=["a", "b"], disable_numparse=True).count("x") == 0


def test_rows_must_have_a_cell_per_header_and_alignments_are_left_or_right():
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a", "b"], [["1"]])
    with pytest.raises(ValueError, match="left or right"):
        markdown_table(["a"], [["1"]], ["center"])  # type: ignore[list-item]


def test_rendering_tables_does_not_import_tabulate():
    code = ("import sys; from cml.report.markdown import markdown_table, terminal_table; "
            "markdown_table(['a'], [['中']]); terminal_table(['a'], [['x']]); print('tabulate' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_cml_table_matches_tabulate_on_a_csv_with_wide_characters(repo, run_cli):
    repo.write("models.csv", "model,score,note\n大模型,0.91,ok\nsmall 🚀,12.5,\"a|b\"\ncafe\u0301,,\n")
    result = run_cli("table", "models.csv")
    assert result.exit_code == 0, result.stderr
    expected = tabulated(["model", "score", "note"],
                         [["大模型", "0.91", "ok"], ["small 🚀", "12.5", "a\\|b"], ["cafe\u0301", "", ""]],
                         ["left", "right", "left"], "pipe")
    assert result.stdout == expected + "\n\n"
