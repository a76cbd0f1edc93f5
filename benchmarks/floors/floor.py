"""What every floor script shares: the fastest CSV reader installed, the curve thinning cml draws with, and a
figure of a given size in pixels saved as PNG by matplotlib's Agg canvas (no pyplot).

``--reader`` picks pyarrow's CSV reader, pandas' C engine or ``np.loadtxt`` (``auto``: the first installed of
those); ``run.py`` runs each floor with every installed reader and compares cml with the fastest of them and with
the least memory any of them took. The figure is what cml draws minus its polish (palette PNG, fonts raised to a
minimum), so a floor is the least a plotting script that parses the same file and draws the same figure can cost.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

#: Pixels per inch of cml's images.
DPI = 120
#: cml thins each curve to this many drawn points, keeping each bucket's minimum and maximum.
MAX_DRAWN_POINTS = 4000


def arguments(description: str, *columns: str) -> argparse.Namespace:
    """``FILE -o OUTPUT --size WxH`` (or ``--size-like PNG``) plus a ``--COLUMN`` option (with its default) for each of ``columns``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("file")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--size", default="768x576", help="image size in pixels, WIDTHxHEIGHT")
    parser.add_argument("--size-like", metavar="PNG", help="the size of this PNG (cml's image of the same data)")
    for column in columns:
        name, _, default = column.partition("=")
        parser.add_argument(f"--{name}", default=default or name)
    parser.add_argument("--reader", choices=["auto", "pyarrow", "pandas", "numpy"], default="auto")
    parser.add_argument("--timings", action="store_true", help="print the seconds of reading and drawing")
    options = parser.parse_args()
    if options.size_like:
        width, height = png_size(options.size_like)
        options.size = f"{width}x{height}"
    return options


def png_size(path: str) -> tuple[int, int]:
    """Width and height of the PNG at ``path``, from its header."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def read_columns(path: str, names: Sequence[str], text: bool = False, reader: str = "auto") -> list[Any]:
    """Columns ``names`` of the CSV file at ``path`` as numpy arrays (floats, or with ``text`` strings)."""
    import numpy as np

    if reader in ("auto", "pyarrow"):
        try:
            import pyarrow as pa
            import pyarrow.csv as pa_csv
        except ImportError:
            if reader == "pyarrow":
                raise
        else:
            types = {name: pa.string() if text else pa.float64() for name in names}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(include_columns=list(names),
                                                                                column_types=types))
            return [table.column(name) if text else arrow_to_numpy(table.column(name)) for name in names]
    if reader in ("auto", "pandas"):
        try:
            import pandas
        except ImportError:
            if reader == "pandas":
                raise
        else:
            frame = pandas.read_csv(path, usecols=list(names), engine="c",
                                    dtype={name: str if text else float for name in names})
            return [frame[name].to_numpy() for name in names]
    with open(path) as handle:
        header = handle.readline().rstrip("\n").split(",")
    indices = [header.index(name) for name in names]
    data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=indices, dtype=str if text else float, ndmin=2)
    return [data[:, position] for position in range(len(names))]


def arrow_to_numpy(array: Any) -> Any:
    """A pyarrow numeric array (or chunked array) as a numpy array over its own buffer, nulls as NaN.

    pyarrow's own ``to_numpy`` imports pandas when it is installed (a second seconds-long, 60 MB import), which
    no floor needs."""
    import numpy as np
    import pyarrow.compute as pc

    if hasattr(array, "combine_chunks"):
        array = array.combine_chunks()
    if array.null_count:
        array = pc.fill_null(array, float("nan"))
    dtype = np.dtype({"double": "float64", "float": "float32"}.get(str(array.type), str(array.type)))
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def encode_labels(actual: Any, predicted: Any) -> tuple[list[str], Any, Any]:
    """Both label columns as codes into one sorted list of classes (dictionary encoding, no Python loop per
    sample)."""
    import numpy as np

    count = len(actual)
    if hasattr(actual, "combine_chunks"):  # pyarrow columns: encode and sort the (small) dictionary in Arrow
        import pyarrow as pa
        import pyarrow.compute as pc

        both = pa.chunked_array(actual.chunks + predicted.chunks).combine_chunks().dictionary_encode()
        sorted_indices = pc.array_sort_indices(both.dictionary)
        order = arrow_to_numpy(sorted_indices).astype(np.int64)
        labels = both.dictionary.take(sorted_indices).to_pylist()
        codes = arrow_to_numpy(both.indices)
    else:
        dictionary, codes = np.unique(np.concatenate([actual, predicted]), return_inverse=True)
        order = np.argsort(dictionary)
        labels = [str(label) for label in dictionary[order]]
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = rank[codes]
    return labels, codes[:count], codes[count:]


def downsample(x: Any, y: Any, max_points: int = MAX_DRAWN_POINTS) -> tuple[Any, Any]:
    """The points cml draws of a curve: each bucket's minimum and maximum, and the first and last points."""
    import numpy as np

    count = len(x)
    if count <= max_points:
        return x, y
    buckets = max_points // 2
    size = count // buckets
    usable = size * buckets
    shaped = y[:usable].reshape(buckets, size)
    offsets = np.arange(buckets) * size
    picks = np.unique(np.concatenate([offsets + shaped.argmin(axis=1), offsets + shaped.argmax(axis=1),
                                      np.arange(usable, count), [0]]))
    return x[picks], y[picks]


def figure_of(size: str) -> Any:
    """A matplotlib Figure on the Agg canvas of ``size`` (``WIDTHxHEIGHT`` pixels at :data:`DPI`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = (int(part) for part in size.lower().split("x"))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Any, path: str) -> None:
    """The figure as a PNG at :data:`DPI`."""
    figure.savefig(path, dpi=DPI, facecolor="white")


def finish(figure: Any, axes: Any, labels: tuple[str, str, str], output: str, watch: Stopwatch, timings: bool,
           legend: str | None = None, unit_square: bool = False) -> None:
    """Label ``axes`` (x label, y label, title), grid it, with ``unit_square`` limit it to [0, 1] × [0, 1.02],
    with ``legend`` place the legend there, then save the figure to ``output`` and report the drawing's time."""
    x_label, y_label, title = labels
    if unit_square:
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    if legend:
        axes.legend(loc=legend)
    axes.grid(alpha=0.3)
    save(figure, output)
    watch.lap("draw")
    watch.report(timings)


class Stopwatch:
    """Seconds spent per phase, printed with ``--timings``."""

    def __init__(self) -> None:
        self.mark = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases.append((phase, now - self.mark))
        self.mark = now

    def report(self, enabled: bool) -> None:
        if enabled:
            print(" ".join(f"{phase}={seconds:.3f}s" for phase, seconds in self.phases))
