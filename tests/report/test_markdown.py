"""Markdown table cells: data is kept as text, never as markup."""

from cml.report.markdown import escape_cell


def test_cells_escape_html_pipes_and_backslashes_but_keep_line_breaks():
    assert escape_cell("<img src=x onerror=alert(1)> a|b \\ &amp;\r\nnext") == (
        "&lt;img src=x onerror=alert(1)&gt; a\\|b \\\\ &amp;amp;<br>next"
    )
