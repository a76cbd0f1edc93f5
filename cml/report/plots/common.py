"""Figure creation, atomic saving and fast downsampling shared by every plot."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

from cml.errors import InputError, UsageError
from cml.fileio import atomic_path
from cml.report.data import Table
from cml.report.markdown import image_markdown, link_target

SAVE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MAX_DRAWN_POINTS = 4000
#: Longest text from data (titles, axis labels, legend entries) drawn on a plot; longer text is cut with "…".
MAX_DRAWN_TEXT = 100
#: Longest tick label (a class name) drawn.
MAX_TICK_TEXT = 40


@dataclass(frozen=True)
class Plot:
    """An image written to ``path``, with the title used as its Markdown alt text."""

    path: str
    title: str
    details: dict = field(default_factory=dict, compare=False)

    def markdown_in(self, report: str | os.PathLike | None = None) -> str:
        """``![title](path)`` for the Markdown file ``report``: the path relative to its folder (as given
        without ``report``)."""
        folder = os.path.dirname(os.path.abspath(report)) if report else None
        return image_markdown(self.title, link_target(self.path, folder))


@dataclass
class Series:
    """One line to draw: ``x`` and ``y`` values, a legend label and a line style."""

    label: str
    x: Any
    y: Any
    dashed: bool = False
    color_key: str | None = None


def check_output(path: str | os.PathLike, parameter: str = "output") -> str:
    """Validate an output path's extension before any work is done; the error names ``parameter``."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in SAVE_FORMATS:
        raise UsageError(f"'{path}' must end in .png, .svg or .pdf", parameter=parameter)
    return path


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: str, title: str, **details: Any) -> Plot:
    """Save ``figure`` atomically in the format its extension names."""
    path = check_output(path)
    file_format = SAVE_FORMATS[os.path.splitext(path)[1].lower()]
    import matplotlib

    # SVG keeps text as text: smaller files, searchable labels.
    with matplotlib.rc_context({"svg.fonttype": "none"}), atomic_path(path) as temporary:
        figure.savefig(temporary, format=file_format, metadata={"Software": "cml"} if file_format == "png" else None)
    return Plot(path=path, title=title, details=details)


def numeric_array(table: Table, name: str, option: str | None = None) -> Any:
    """Column ``name`` as a float array; empty cells become NaN, other text is an error."""
    import numpy as np

    values = table.column(name, option)
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        cleaned = ["nan" if v is None or v == "" else v for v in values]
        try:
            return np.asarray(cleaned, dtype=float)
        except (TypeError, ValueError):
            table.numbers(name, option)  # raises, naming the first bad cell
            raise InputError(table.path, f"column '{name}' is not numeric") from None


def downsample(x: Any, y: Any, max_points: int = MAX_DRAWN_POINTS) -> tuple[Any, Any]:
    """Thin a curve for drawing while keeping each bucket's minimum and maximum.

    Lines drawn from the result look the same as the full data at plot
    resolution: spikes and dips survive, which plain striding would lose.
    """
    import numpy as np

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    count = len(x)
    if count <= max_points:
        return x, y
    buckets = max_points // 2
    size = count // buckets
    usable = size * buckets
    shaped = y[:usable].reshape(buckets, size)
    with np.errstate(invalid="ignore"):
        masked = np.where(np.isnan(shaped), np.inf, shaped)
        low = masked.argmin(axis=1)
        masked = np.where(np.isnan(shaped), -np.inf, shaped)
        high = masked.argmax(axis=1)
    offsets = np.arange(buckets) * size
    picks = np.concatenate([offsets + low, offsets + high, np.arange(usable, count), [0]])
    picks = np.unique(picks)
    return x[picks], y[picks]


def thin_ticks(count: int, most: int = 30) -> list[int]:
    """Indices of at most ``most`` evenly spaced tick positions out of ``count``."""
    if count <= most:
        return list(range(count))
    step = -(-count // most)
    return list(range(0, count, step))


def literal(text: Any, most: int = MAX_DRAWN_TEXT) -> str:
    """``text`` from data as matplotlib must get it to draw it literally, cut to ``most`` characters.

    matplotlib reads text between ``$`` signs as mathtext, which fails on (or rewrites) names such
    as ``$x$`` or ``cost_$``; an escaped ``\\$`` is drawn as ``$`` and the text around it as written.
    """
    text = str(text)
    if len(text) > most:
        text = text[: most - 1] + "…"
    return text.replace("$", r"\$")


def legend_if_useful(axes: Any, entries: Sequence[tuple[Any, str]], most: int = 15, **kwargs) -> None:
    """A legend of ``(artist, label)`` entries when there are at most ``most`` of them.

    Labels are passed explicitly, so a label from data that starts with ``_`` is shown too
    (matplotlib hides such labels when it collects them itself).
    """
    if 0 < len(entries) <= most:
        axes.legend([artist for artist, _ in entries], [literal(label) for _, label in entries], **kwargs)


