"""Sparklines: a series of numbers as a line of block characters (``▁▂▃▄▅▆▇█``), for table cells."""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Sequence

from cml.report.data import is_number
from cml.report.markdown import OutputFormat

#: Sparkline levels, lowest to highest.
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
#: A series whose values are all equal is drawn as a flat line at mid height.
FLAT_LEVEL = SPARK_LEVELS[3]
#: A missing or NaN value in a sparkline.
SPARK_GAP = " "


def as_float(value: Any) -> float | None:
    """``value`` as a float for scaling (huge integers as infinities); ``None`` when it is not a number or NaN."""
    if not is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    return None if math.isnan(number) else number


def sparkline(values: Sequence[Any]) -> str:
    """One block character per value, oldest first: ``▁`` the lowest, ``█`` the highest; a space for a missing or
    NaN value; a constant series as a flat line at mid height (``▄``). Infinities sit at the ends of the scale."""
    numbers = [as_float(value) for value in values]
    finite = [n for n in numbers if n is not None and math.isfinite(n)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    characters = []
    for number in numbers:
        if number is None:
            characters.append(SPARK_GAP)
        elif number == math.inf:
            characters.append(SPARK_LEVELS[-1])
        elif number == -math.inf:
            characters.append(SPARK_LEVELS[0])
        elif high == low:
            characters.append(FLAT_LEVEL)
        else:  # halves, so that the span between the largest floats of both signs does not overflow
            fraction = (number / 2 - low / 2) / (high / 2 - low / 2)
            characters.append(SPARK_LEVELS[round(fraction * (len(SPARK_LEVELS) - 1))])
    return "".join(characters)


def trend_cell(values: Sequence[Any], output_format: OutputFormat = "md") -> str:
    """A sparkline as a table cell: in Markdown a code span (monospace, so rows line up and gaps are kept); in a
    terminal table with gaps as blank braille cells, which the table layout does not trim."""
    line = sparkline(values)
    if not line.strip():
        return ""
    if output_format == "md":
        padding = " " if line.startswith(" ") and line.endswith(" ") else ""
        return f"`{padding}{line}{padding}`"
    return line.replace(SPARK_GAP, "\u2800")
