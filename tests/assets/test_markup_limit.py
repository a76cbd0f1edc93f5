"""Reports with more Markdown markup than cmark-gfm may be given are refused before it parses them: cmark keeps some
200-500 bytes for each unit of markup (a "[", a line end, a table cell), so a 4 MiB flood of "[" with one link
took 1 GB, and a 48 KB table of autocompleted cells 140 MB."""

import subprocess
import sys

import pytest

from cml.assets.links import TooMuchMarkup, find_destinations
from cml.sandbox import MEMORY_BUDGET, supported
from cml.assets.references import WARNINGS_PER_FILE, Boundary, collect_references
from cml.errors import InputError
from cml.report.truncate import MAX_MARKUP, markup_overflow

MEBIBYTE = 1 << 20
WIDE_TABLES = ("|a" * 2000 + "|\n" + "|-" * 2000 + "|\n" + "x\n" * 40 + "\n") * 6  # 48 KB, 480,000 cells

#: Runs ``collect_references`` on the report named on the command line in a fresh process and prints its peak
#: resident memory (KiB) and the outcome.
PROBE = """
import os, resource, sys
from cml.assets.references import Boundary, collect_references
from cml.errors import InputError
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    text = handle.read()
try:
    outcome = len(collect_references(text, path, Boundary([os.path.dirname(path)])))
except InputError as error:
    outcome = str(error)
try:  # this process's own peak: ru_maxrss keeps the one of the process it was forked from, across exec
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
print(peak)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // (1024 if sys.platform == "darwin" else 1))
print(outcome)
"""


def _probe(tmp_path, text):
    path = tmp_path / "report.md"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    peak, child, outcome = result.stdout.split("\n", 2)
    return int(peak) // 1024, int(child) // 1024, outcome.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is Unix only")
@pytest.mark.parametrize("flood", [
    "[" * (4 * MEBIBYTE) + "](plot.png)",
    "a\n" * (2 * MEBIBYTE) + "[a](plot.png)",
    "[a](plot.png) " * (MEBIBYTE // 2),
], ids=["4 MiB of [ and a link", "4 MiB of short lines and a link", "500,000 links"])
def test_a_flood_with_a_link_is_refused_on_its_line_in_little_memory(tmp_path, flood):
    prose, _, _ = _probe(tmp_path, "# R\n\n" + "The model was trained. " * (4 * MEBIBYTE // 23) + "\n")
    peak, child, outcome = _probe(tmp_path, "# R\n\n" + flood + "\n")
    assert outcome.startswith(f"{tmp_path / 'report.md'}:") and "characters of Markdown markup" in outcome
    assert peak < prose + 30, (peak, prose)  # cmark took 600-1000 MiB for each
    # cmark tried it in a child, which died of its limit: its memory stayed under it (the machine has far more)
    assert 0 < child < MEMORY_BUDGET // MEBIBYTE + 100 if supported() else child == 0, child


@pytest.mark.skipif(not supported(), reason="the child's memory can be bounded on Linux only")
def test_tables_cmark_parses_in_less_than_the_child_budget_are_scanned_in_the_child(tmp_path):
    peak, child, outcome = _probe(tmp_path, "# R\n\n" + WIDE_TABLES + "[a](plot.png)\n")
    assert outcome == "0"  # the link to the missing file is skipped (a warning), the report is not refused
    assert 100 < child < MEMORY_BUDGET // MEBIBYTE + 100, child  # cmark: 140 MiB for the 480,000 cells


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is Unix only")
def test_the_most_markup_scanned_stays_well_under_300_mib(tmp_path):
    # line ends are the dearest unit: a text node and a line break each, and a line start in the scanner
    peak, child, outcome = _probe(tmp_path, "a\n" * (MAX_MARKUP - 10) + "[a](plot.png)\n")
    assert outcome == "0" and peak < 260, peak
    assert child == 0  # within the count: parsed here, no child started


def test_the_limit_is_exact_and_names_the_line_where_it_is_passed():
    assert markup_overflow(b"a\n" * MAX_MARKUP) is None
    assert markup_overflow(b"a\n" * (MAX_MARKUP + 1)) == MAX_MARKUP + 1
    assert markup_overflow(b"plain text 42 " * MEBIBYTE) is None  # letters, digits and spaces are no markup
    assert markup_overflow(b"x\n\n" + b"[" * (MAX_MARKUP + 1)) == 3
    with pytest.raises(TooMuchMarkup) as raised:  # past the count, and past the child's memory
        find_destinations("# Report\n\n![a](a.png)\n\n" + "[" * (4 * MEBIBYTE))
    assert raised.value.line == 5


def test_table_cells_a_delimiter_row_can_make_count_whatever_the_rows_hold():
    assert markup_overflow(WIDE_TABLES.encode()) == 4 * 43 + 2  # the delimiter row of the fifth table
    assert markup_overflow(("|a" * 2000 + "|\n" + "|-" * 2000 + "|\n" + "x\n" * 40).encode()) is None
    assert markup_overflow(WIDE_TABLES.replace("\n", "\r").encode()) == 4 * 43 + 2  # old Mac line ends
    assert markup_overflow(WIDE_TABLES.replace("\n", "\r\n").encode()) == 4 * 43 + 2
    # a blank line ends a table: rows after it make no cells of it
    assert markup_overflow(("|a|b|\n|-|-|\n\n" + "x\n\n" * 100_000).encode()) is None


@pytest.mark.parametrize("space", ["\v", "\f"], ids=["vertical tab", "form feed"])
def test_a_delimiter_row_spaced_with_what_cmark_takes_for_spaces_counts_its_cells(space):
    # cmark-gfm reads "|-\v|-\v…|" as a delimiter row: 10 such tables of 458 columns (46 KB) took 1.3 GB
    tables = ("|a" * 458 + "|\n" + f"|-{space}" * 458 + "|\n" + "x\n" * 1145 + "\n") * 10
    assert markup_overflow(tables.encode()) is not None
    with pytest.raises(TooMuchMarkup):
        find_destinations("![a](a.png)\n\n" + tables)


def test_normal_reports_are_scanned_as_before():
    images = "".join(f"![plot {index}](plots/plot_{index}.png)\n\n" for index in range(50))
    table = "| epoch | loss | accuracy |\n|---:|---:|---:|\n" + "".join(
        f"| {row} | {1 / (row + 1):.6f} | {row / 1000:.3f} |\n" for row in range(1000))
    prose = ("The model was trained for ten epochs, with a learning rate of 0.001 (halved at epoch 5); "
             "see https://example.test/run and the *details* below.\n\n") * 1300
    text = "# Report\n\n" + images + table + "\n" + prose + "[log](logs/train.log)\n"
    assert len(text) > 200_000 and markup_overflow(text.encode()) is None
    found = find_destinations(text)
    assert [d.url for d in found] == [f"plots/plot_{index}.png" for index in range(50)] + ["logs/train.log"]


def test_a_report_too_full_of_markup_is_an_input_error_naming_the_report_and_line(tmp_path):
    report = tmp_path / "report.md"
    text = "# R\n\n![a](a.png)\n\n" + "[" * (4 * MEBIBYTE)
    with pytest.raises(InputError, match=r"report\.md:5: more than 400,000 characters of Markdown markup .*; move "
                                         r"long logs and tables into files the report links to, or shorten it$"):
        collect_references(text, str(report), Boundary([str(tmp_path)]))


def test_many_links_to_one_missing_file_warn_five_times_then_count_the_rest(tmp_path):
    text = "".join(f"![a](missing.png) [b](gone/{index % 2}.png)\n" for index in range(1000))
    warnings = []
    collect_references(text, str(tmp_path / "report.md"), Boundary([str(tmp_path)]),
                       warn=lambda message, file=None, line=None: warnings.append((line, message)))
    assert [warning for warning in warnings if warning[1].startswith("missing.png")][:WARNINGS_PER_FILE] == [
        (line, "missing.png does not exist; the link is left as it is") for line in range(1, WARNINGS_PER_FILE + 1)]
    assert len(warnings) == 3 * (WARNINGS_PER_FILE + 1)
    assert warnings[-3:] == [
        (6, "missing.png does not exist: 995 more links like this, from line 6 on, are left as they are"),
        (11, "gone/0.png does not exist: 495 more links like this, from line 11 on, are left as they are"),
        (12, "gone/1.png does not exist: 495 more links like this, from line 12 on, are left as they are")]


@pytest.mark.parametrize("command", [("comment", "create"), ("check", "create")], ids=" ".join)
def test_posting_a_flood_with_a_link_fails_on_its_line_before_any_request(actions, github, tmp_path, run_cli,
                                                                         command):
    (tmp_path / "report.md").write_text("# R\n\n![a](a.png)\n\n" + "[" * (4 * MEBIBYTE) + "](a.png)\n")
    result = run_cli(*command, "report.md")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: report.md:5: more than 400,000 characters of Markdown markup")
    assert result.stderr.count("\n") == 1
    assert not any(request.method == "POST" for request in github.server.requests)


def test_preview_refuses_what_it_would_render_in_a_gigabyte(tmp_path):
    from cml.report.preview import preview_file

    (tmp_path / "report.md").write_text("# R\n\n" + "[" * (4 * MEBIBYTE) + "\n")
    with pytest.raises(InputError, match=r"report\.md:3: more than 400,000 characters of Markdown markup .* more "
                                         r"than cml renders"):
        preview_file(tmp_path / "report.md")
