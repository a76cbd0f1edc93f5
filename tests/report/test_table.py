"""Tabular files as tables: each cell read as a number once, for its text and its column's alignment."""

from cml.report.data import Table
from cml.report.table import render_table


def _table() -> Table:
    return Table("t.csv", ["name", "score", "mixed", "blank", "n"], {
        "name": ["b", "a", "c", "d"], "score": ["0.5", " 2 ", "1e-9", "nan"], "mixed": ["1", "x", "", "2.25"],
        "blank": ["", "", "", ""], "n": [3, None, 2.5, True]})


def test_numbers_are_formatted_and_right_aligned_only_in_columns_of_numbers_and_blanks():
    assert render_table(_table(), sort="score", descending=True, precision=3) == (
        "| name   |   score | mixed   |   blank | n    |\n"
        "|:-------|--------:|:--------|--------:|:-----|\n"
        "| a      |       2 | x       |         |      |\n"
        "| b      |     0.5 | 1       |         | 3    |\n"
        "| c      |   1e-09 |         |         | 2.5  |\n"
        "| d      |     nan | 2.25    |         | true |"
    )


def test_alignment_looks_only_at_the_rows_shown():
    assert render_table(_table(), max_rows=1) == (
        "| name   |   score |   mixed |   blank |   n |\n"
        "|:-------|--------:|--------:|--------:|----:|\n"
        "| b      |     0.5 |       1 |         |   3 |\n\n… 3 more rows"
    )
    assert render_table(_table(), columns=["n", "name"], max_rows=2, output_format="table") == (
        "  n  name\n---  ------\n  3  b\n     a\n\n… 2 more rows"
    )
    assert render_table(_table(), max_rows=0) == (
        "| name   | score   | mixed   | blank   | n   |\n|--------|---------|---------|---------|-----|\n\n… 4 more rows"
    )
