"""Tabular data (CSV, TSV, JSON records, JSON lines) as a Markdown table."""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from cml.errors import UsageError
from cml.report.data import Table, is_number, natural_sort_key, to_scalar
from cml.report.markdown import Alignment, OutputFormat, markdown_table, number_formatter, terminal_table


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
    # column by column, each cell read as a number once, for both its text and its column's alignment
    number = number_formatter(precision)
    columns_of_cells: list[list[str]] = []
    numeric: list[bool] = []
    for values in selected:
        raw = [values[index] for index in shown]
        typed = list(map(_typed, raw))
        columns_of_cells.append(["" if value is None else number(value) for value in typed])
        numeric.append(all(is_number(value) or cell in ("", None) for value, cell in zip(typed, raw)))
    rows = [list(row) for row in zip(*columns_of_cells)] if selected else [[] for _ in shown]
    align: list[Alignment] = ["right" if is_numeric and rows else "left" for is_numeric in numeric]
    hidden = len(order) - len(shown)
    render = markdown_table if output_format == "md" else terminal_table
    text = render(names, rows, align)
    if hidden:
        text += f"\n\n… {hidden} more row{'s' if hidden != 1 else ''}"
    return text
