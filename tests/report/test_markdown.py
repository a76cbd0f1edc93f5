"""Markdown table cells: data is kept as text, never as markup."""

import math
import random
import subprocess
import sys

import pytest

from cml.report.markdown import (
    _KNOWN_WIDTHS,
    _display_width,
    escape_cell,
    escape_html,
    format_number,
    format_percent,
    format_signed,
    number_formatter,
    signed_formatter,
)


def test_cells_escape_html_pipes_and_backslashes_but_keep_line_breaks():
    assert escape_cell("<img src=x onerror=alert(1)> a|b \\ &amp;\r\nnext") == (
        "&lt;img src=x onerror=alert(1)&gt; a\\|b \\\\ &amp;amp;<br>next"
    )


_VALUES = [0.0, -0.0, 0.5, -0.5, 0.4, -0.4, 1.5, 2.5, 0.123456789, -1e-9, 1e-9, 5e-6, -5e-6, 4.9999999e-6, 5.000001e-6,
           5e-16, 4.9e-16, 5e-324, 1e300, -1.7976931348623157e308, 123456789.987654321, 0.30000000000000004, 1 / 3,
           math.nan, math.inf, -math.inf, 0, -7, 10**30, True, False, None, "text", "", 1.0, -0.05, 0.05]


class _Float(float):
    def __format__(self, spec):
        return "custom"


@pytest.mark.parametrize("precision", range(16))
def test_column_formatters_write_what_format_number_and_format_signed_write(precision):
    rng = random.Random(precision)
    values = _VALUES + [_Float(0.25)] + [rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20) for _ in range(300)]
    values += [round(rng.random(), rng.randint(0, 17)) * 10 ** -rng.randint(0, 16) for _ in range(300)]
    number, signed = number_formatter(precision), signed_formatter(precision)
    for value in values:
        assert number(value) == format_number(value, precision), (value, precision)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert signed(value) == format_signed(value, precision), (value, precision)


def _outcome(function, *args):
    try:
        return function(*args)
    except Exception as error:  # noqa: BLE001 (the error is the outcome compared)
        return type(error)


def test_a_formatter_for_a_precision_out_of_range_answers_or_fails_as_format_number_does():
    for precision in (-1, -2, -400):
        number = number_formatter(precision)
        for value in (0.5, 12345.678, 1e-300, 0.0, 3, math.nan):
            assert _outcome(number, value) == _outcome(format_number, value, precision), (value, precision)


def test_the_symbols_cml_writes_are_measured_as_wcwidth_measures_them():
    from wcwidth import wcswidth

    for symbol in _KNOWN_WIDTHS:
        assert _KNOWN_WIDTHS[symbol] == wcswidth(symbol), symbol
    texts = ["✅ better", "❌ worse", "➕ added", "➖ removed", "—", "— x", "a—b✅", "✅✅", "", "✅\u0301", "⚠️ not",
             "✅\t", "日本", "—日", "x\x1by"]
    for text in texts:
        assert _display_width(text) == wcswidth(text), text


def test_a_table_of_status_marks_and_dashes_needs_no_wcwidth():
    code = ("import sys; from cml.report.markdown import markdown_table, terminal_table; "
            "print(markdown_table(['Status', 'Change'], [['✅ better', '—'], ['➖ removed', '+1']], ['left', 'right'])); "
            "terminal_table(['S'], [['❌ worse'], ['➕ added']]); print('wcwidth' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output == ("| Status     |   Change |\n|:-----------|---------:|\n| ✅ better  |        — |\n"
                      "| ➖ removed |       +1 |\nFalse\n")


def test_escape_html_is_html_escape_without_quotes():
    import html

    for text in ["a<b>&c", "&amp;&lt;", "\"'quoted'\"", "", "plain", 12, None, "<<&&>>", "✅ <b>"]:
        assert escape_html(text) == html.escape(str(text), quote=False), text


def test_format_percent_of_every_kind_of_number():
    cases = [(0.0123, "+1.23%"), (-0.5, "-50.00%"), (0.0, "+0.00%"), (-0.0, "-0.00%"), (1e308, "+inf%"),
             (-1e308, "-inf%"), (math.inf, "+inf%"), (-math.inf, "-inf%"), (math.nan, "—"), (None, "—"),
             (2, "+200.00%"), (-1e-9, "-0.00%")]
    for value, text in cases:
        assert format_percent(value) == text, value
