"""Tabular data (CSV, TSV, JSON records, JSON lines) as a Markdown table."""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from cml.errors import UsageError
from cml.report.data import Table, is_number, natural_sort_key, to_scalar
from cml.report.markdown import Alignment, OutputFormat, format_number, markdown_table, terminal_table


def _typed(value: Any) -> Any:
    return to_scalar(value) if isinstance(value, str) else value


def _sort_key(value: Any):
    value = _typed(value)
    if value is None:
        return (2, 0.0, "")
    if is_number(value):
        return (0, float(value), "")
    return natural_sort_key(str(value))


def render_table(
    table: Table,
    columns: Sequence[str] | None = None,
    sort: str | None = None,
    descending: bool = False,
    max_rows: int | None = None,
    precision: int = 5,
    output_format: OutputFormat = "md",
) -> str:
    """Select, sort, cut and format ``table``; a cut table ends with an "… N more rows" line."""
    names = list(columns) if columns else table.columns
    selected = [table.column(name, "columns") for name in names]
    order = list(range(len(table)))
    if sort:
        keys = table.column(sort, "sort")
        order.sort(key=lambda i: _sort_key(keys[i]), reverse=descending)
    if max_rows is not None and max_rows < 0:
        raise UsageError("must be 0 or more", parameter="max_rows")
    shown = order if max_rows is None else order[:max_rows]
    rows = []
    for index in shown:
        row = []
        for values in selected:
            value = _typed(values[index])
            row.append("" if value is None else format_number(value, precision))
        rows.append(row)
    numeric = [all(is_number(_typed(values[i])) or values[i] in ("", None) for i in shown) for values in selected]
    align: list[Alignment] = ["right" if is_numeric and rows else "left" for is_numeric in numeric]
    hidden = len(order) - len(shown)
    render = markdown_table if output_format == "md" else terminal_table
    text = render(names, rows, align)
    if hidden:
        text += f"\n\n… {hidden} more row{'s' if hidden != 1 else ''}"
    return text
