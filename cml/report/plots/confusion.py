"""Confusion matrices that show the errors, stay fast and small in memory up to thousands of classes, and
compare with the base branch.

Colours: correct predictions (the diagonal) in blues and confusions (off the diagonal) in oranges, each scaled
on its own maximum (confusions on a square-root scale), so one confusion beside a thousand correct predictions
is plainly orange; cells without samples are white, and annotations pick black or white text by the cell's
luminance. With a base, a second panel draws head − base: cells that got worse (more confusions, fewer correct)
red, better blue, on a square-root scale centred at 0.

Labels are dictionary-encoded (one hash lookup each) and pairs counted with numpy; only non-empty cells are kept,
so memory grows with the samples, not with the square of the classes. Past ``max_classes``, the most frequent
classes are drawn and the rest summed in one "other" row and column. When cells are smaller than a pixel, they
are pooled to the image's resolution before matplotlib sees them, each pixel showing the most telling cell under
it (a confusion over a correct prediction, a regression over an improvement), so no error is scaled away.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, get_args
from collections.abc import Sequence

from cml.errors import InputError, UsageError
from cml.fileio import FilePath
from cml.git import Revision
from cml.report.classification import (encode_labels, folding_note, label_pairs, label_texts, most_frequent,
                                       other_label, sorted_labels)
from cml.report.data import Table, base_table, load_table
from cml.report.plots.common import (DPI, MAX_FIGURE_WIDTH, MAX_TICK_TEXT, Plot, check_output, literal, new_figure,
                                     save_figure, thin_ticks)

#: Fractions of each actual class (``true``), of each predicted class (``pred``) or of all samples (``all``).
Normalization = Literal["true", "pred", "all"]
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
#: Matrices up to this many classes write each cell's value; larger ones are colour only.
ANNOTATE_UP_TO = 30
#: Classes a confusion matrix draws one by one; the others share one "other" row and column.
MAX_PLOTTED_CLASSES = 1000
#: Where the colour maps start: the smallest value drawn is a clear tint, never near-white (white means none).
LIGHTEST_TINT = 0.3
#: Relative luminance below which a cell's text is white (black and white contrast equally there).
DARK_CELL_LUMINANCE = 0.179
MINUS = "\u2212"


class ConfusionCounts(NamedTuple):
    """Counts with rows actual and columns predicted, over ``labels`` (the last one "other" when ``folded``)."""

    labels: list[str]
    counts: Any
    classes: int
    folded: int
    correct: int


class _Cells(NamedTuple):
    """The non-empty cells of one side's matrix over the drawn classes: positions (rows actual, columns
    predicted) and counts, so memory grows with the samples, never with the square of the classes."""

    rows: Any
    columns: Any
    counts: Any
    correct: int

    def dense(self, size: int) -> Any:
        import numpy as np

        matrix = np.zeros((size, size), dtype=np.int64)
        matrix[self.rows, self.columns] = self.counts
        return matrix


class _Counted(NamedTuple):
    labels: list[str]
    classes: int
    folded: int
    sides: list[_Cells]


def _text_side(actual: Sequence, predicted: Sequence, parameter: str | None = None) -> tuple[list[str], list[str]]:
    actual, predicted = label_texts(actual), label_texts(predicted)
    if len(actual) != len(predicted):
        if parameter:
            raise UsageError(f"has {len(actual)} actual labels but {len(predicted)} predicted", parameter=parameter)
        raise UsageError(f"y_true has {len(actual)} labels but y_pred has {len(predicted)}")
    if not actual:
        if parameter:
            raise UsageError("has no labels", parameter=parameter)
        raise UsageError("no labels: y_true and y_pred are empty")
    return actual, predicted


#: Drawn matrices up to this many cells are counted into a dense array (cheaper than sorting the pairs).
DENSE_COUNTING_CELLS = 1 << 20


def _cells(rows: Any, columns: Any, size: int, correct: int) -> _Cells:
    """The non-empty cells among the (``rows``, ``columns``) pairs of a ``size`` × ``size`` matrix."""
    import numpy as np

    flat = (rows if size * size < 2 ** 31 else rows.astype(np.int64)) * size + columns
    # A dense count takes no more memory than the pairs themselves (8 bytes a cell, 4 a pair), and no sort.
    if size * size <= max(DENSE_COUNTING_CELLS, len(flat) // 2):
        counts = np.bincount(flat, minlength=size * size)
        cells = np.flatnonzero(counts)
        counts = counts[cells]
    else:
        # np.unique's counting, but sorting the pairs in place (no copy of the samples).
        flat.sort()
        firsts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
        cells = flat[firsts]
        counts = np.diff(np.append(firsts, len(flat)))
    rows, columns = np.divmod(cells.astype(np.intp), size)
    return _Cells(rows, columns, counts.astype(np.int64), correct)


def _count_cells(
    y_true: Sequence, y_pred: Sequence, base: tuple[Sequence, Sequence] | None, labels: Sequence[str] | None,
    max_classes: int,
) -> _Counted:
    """Dictionary-encode every side's labels (one hash lookup per label) over the same classes (``labels``, else
    every label of either side in natural order), fold past ``max_classes`` by frequency over all sides
    together, and count each side's cells."""
    import numpy as np

    if max_classes < 1:
        raise UsageError("must be 1 or more", parameter="max_classes")
    sides = [_text_side(y_true, y_pred)]
    if base is not None:
        if len(base) != 2:
            raise UsageError("must be a pair: (actual labels, predicted labels)", parameter="base")
        sides.append(_text_side(base[0], base[1], "base"))
    distinct, first_seen = encode_labels(*(texts for side in sides for texts in side))
    classes = [str(label) for label in labels] if labels is not None else sorted_labels(distinct)
    if not classes:
        raise UsageError("no labels to draw", parameter="labels")
    index = {label: position for position, label in enumerate(classes)}
    if labels is not None:
        # In order of first appearance: the head's actual labels, its predicted ones, then the base's.
        unknown = next((number for number, label in enumerate(distinct) if label not in index), None)
        if unknown is not None:
            in_head = unknown <= max(int(first_seen[0].max()), int(first_seen[1].max()))
            raise UsageError(f"label {distinct[unknown]!r} is not among the given labels",
                             parameter="labels" if in_head else "base")
    position_of = np.array([index[label] for label in distinct], dtype=first_seen[0].dtype)
    encoded = [(position_of[first_seen[2 * number]], position_of[first_seen[2 * number + 1]])
               for number in range(len(sides))]
    del first_seen
    size = len(classes)
    folded = max(size - max_classes, 0)
    shown = classes
    if folded:
        frequency = np.zeros(size, dtype=np.int64)
        for side in encoded:
            for positions in side:
                frequency += np.bincount(positions, minlength=size)
        kept = most_frequent(frequency.tolist(), max_classes)
        position = np.full(size, max_classes, dtype=encoded[0][0].dtype)
        position[kept] = np.arange(max_classes)
        shown = [classes[i] for i in kept] + [other_label(folded)]
    cells = []
    for rows, columns in encoded:
        correct = int(np.count_nonzero(rows == columns))
        if folded:
            rows, columns = position[rows], position[columns]
        cells.append(_cells(rows, columns, len(shown), correct))
    return _Counted(shown, size, folded, cells)


def count_matrix(
    y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None = None, max_classes: int = MAX_PLOTTED_CLASSES
) -> ConfusionCounts:
    """Count (actual, predicted) pairs; past ``max_classes`` classes, keep the most frequent and fold the rest."""
    return count_matrices(y_true, y_pred, None, labels, max_classes)[0]


def count_matrices(
    y_true: Sequence,
    y_pred: Sequence,
    base: tuple[Sequence, Sequence] | None = None,
    labels: Sequence[str] | None = None,
    max_classes: int = MAX_PLOTTED_CLASSES,
) -> tuple[ConfusionCounts, ConfusionCounts | None]:
    """The head's counts and, with ``base`` (actual, predicted), the base's, over the same classes: ``labels``,
    else every label of either side in natural order, folded the same way on both sides."""
    counted = _count_cells(y_true, y_pred, base, labels, max_classes)
    matrices = [_matrix_counts(counted, side) for side in counted.sides]
    return matrices[0], matrices[1] if base is not None else None


def _matrix_counts(counted: _Counted, side: _Cells) -> ConfusionCounts:
    return ConfusionCounts(counted.labels, side.dense(len(counted.labels)), counted.classes, counted.folded,
                           side.correct)


def normalize_matrix(counts: Any, normalize: Normalization | None) -> Any:
    """Divide by row sums (``true``), column sums (``pred``) or the total (``all``)."""
    import numpy as np

    if normalize is None:
        return counts
    if normalize not in NORMALIZATIONS:
        raise UsageError(f"'{normalize}' is not one of {', '.join(NORMALIZATIONS)}", parameter="normalize")
    counts = counts.astype(float)
    if normalize == "true":
        totals = counts.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        totals = counts.sum(axis=0, keepdims=True)
    else:
        totals = np.array(counts.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0)


# -- colours -----------------------------------------------------------------------------------------------------


#: Shades per colour map: the blues, oranges and the change view's two sides fit in one 256-colour PNG palette
#: together with the text and grid, so optimised images keep every shade (see common.write_png).
COLOUR_LEVELS = 48


def _tinted(name: str) -> Any:
    """Colour map ``name`` from its :data:`LIGHTEST_TINT` on, white below its range (the colour bars' "none")."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    colours = colormaps[name](np.linspace(LIGHTEST_TINT, 1.0, COLOUR_LEVELS))
    return ListedColormap(colours, name=f"cml_{name}").with_extremes(under="white")


def _diverging() -> Any:
    """Blue (better) through white to red (worse), each side starting at a clear tint."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    signed = np.linspace(-1.0, 1.0, 2 * COLOUR_LEVELS)
    distance = LIGHTEST_TINT / 2 + (0.5 - LIGHTEST_TINT / 2) * np.abs(signed)
    return ListedColormap(colormaps["RdBu_r"](0.5 + np.sign(signed) * distance), name="cml_change")


def _square_root_norm(top: float) -> Any:
    """Signed square-root scale from ``-top`` to ``top``: small changes stay visible beside large ones."""
    import numpy as np
    from matplotlib.colors import FuncNorm

    return FuncNorm((lambda v: np.sign(v) * np.sqrt(np.abs(v)), lambda v: np.sign(v) * np.square(v)),
                    vmin=-top, vmax=top, clip=True)


def _plain_top(values: Any, mask: Any, folded: bool) -> float:
    """The largest of ``values`` where ``mask`` holds, leaving out the "other" row and column when folded
    (it sums many classes and would wash the others out); falls back to every cell, then to 1."""
    import numpy as np

    inner = np.where(mask, values, 0)
    if folded:
        inner = inner[:-1, :-1]
    return float(inner.max()) or float(np.where(mask, values, 0).max()) or 1.0


def _luminance(rgba: Any) -> Any:
    """Relative luminance (WCAG) of sRGB colours."""
    import numpy as np

    channels = rgba[..., :3]
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


class _Scale(NamedTuple):
    """A colour bar: what it measures, its colours, and its ticks (``None``: matplotlib's)."""

    label: str
    cmap: Any
    norm: Any
    extend: str
    integer: bool
    ticks: list[float] | None = None
    magnitude: bool = False


def _nice(value: float) -> float:
    """The 1, 2 or 5 times a power of ten nearest ``value`` (on a log scale)."""
    exponent = math.floor(math.log10(value))
    mantissa = value / 10 ** exponent
    nearest = min((1.0, 2.0, 5.0, 10.0), key=lambda candidate: abs(math.log(mantissa / candidate)))
    return float(f"{nearest * 10 ** exponent:.1g}")


def _square_root_ticks(top: float, integer: bool, steps: Sequence[float] = (1 / 16, 1 / 4, 9 / 16)) -> list[float]:
    """Round ticks about evenly spaced on a square-root scale from 0 to ``top``, which ends them."""
    end = float(int(top)) if integer else float(f"{top:.2g}")
    ticks = [0.0]
    for fraction in steps:
        value = math.ceil(top * fraction) if integer and top <= 10 else _nice(top * fraction)
        if ticks[-1] < value < 0.85 * end:
            ticks.append(float(value))
    return ticks + [end] if end > 0 else ticks


class _Colouring(NamedTuple):
    """Cell colours as codes: 0 is white, ``2 + t`` the ``low`` map at ``t`` and ``4 + t`` the ``high`` map at
    ``t`` (``t`` from 0 to 1). A higher code is a more telling cell (an error over a correct prediction), which
    is the one a pixel shows when it spans several cells."""

    codes: Any
    low: Any
    high: Any

    def rgba(self, codes: Any = None) -> Any:
        import numpy as np

        codes = self.codes if codes is None else codes
        rgba = np.ones((*codes.shape, 4))
        for kind, cmap in ((1, self.low), (2, self.high)):
            cells = (codes >= 2 * kind) & (codes < 2 * kind + 2)
            rgba[cells] = cmap(codes[cells] - 2 * kind)
        return rgba


def _unit_interval(norm: Any, values: Any) -> Any:
    import numpy as np

    return np.clip(np.ma.getdata(norm(values)).astype(float), 0.0, 1.0)


def _cell_values(cells: _Cells, size: int, normalize: Normalization | None) -> Any:
    """The non-empty cells' values: counts, or fractions as :func:`normalize_matrix` computes them."""
    import numpy as np

    if normalize is None:
        return cells.counts
    counts = cells.counts.astype(float)
    if normalize == "true":
        return counts / np.bincount(cells.rows, counts, size)[cells.rows]
    if normalize == "pred":
        return counts / np.bincount(cells.columns, counts, size)[cells.columns]
    return counts / counts.sum()


def _largest(values: Any, mask: Any, inner: Any) -> float:
    """Like :func:`_plain_top` over non-empty cells: the largest of ``values`` where ``mask`` holds inside
    ``inner`` (the cells off the "other" row and column), else anywhere, else 1."""
    return float(values[mask & inner].max(initial=0)) or float(values[mask].max(initial=0)) or 1.0


def _cell_grid(cells: _Cells, size: int, codes: Any, pixels: int) -> Any:
    """The colour codes of the non-empty cells on a ``size`` × ``size`` grid (0: empty), or, past ``pixels``
    cells a side, on a ``pixels`` × ``pixels`` one whose every pixel keeps the highest code of the cells under
    it (the blocks of :func:`_pooled`), so a lone confusion among thousands of classes keeps a pixel of its own."""
    import numpy as np

    if size <= pixels:
        grid = np.zeros((size, size))
        grid[cells.rows, cells.columns] = codes
        return grid
    starts = (np.arange(pixels) * size) // pixels
    block_rows = np.searchsorted(starts, cells.rows, side="right") - 1
    block_columns = np.searchsorted(starts, cells.columns, side="right") - 1
    pooled = np.zeros(pixels * pixels)
    np.maximum.at(pooled, block_rows * pixels + block_columns, codes)
    return pooled.reshape(pixels, pixels)


def _head_colours(cells: _Cells, size: int, normalize: Normalization | None, folded: bool,
                  pixels: int) -> tuple[_Colouring, list[_Scale]]:
    """Cell colours of a confusion matrix (correct predictions in blues, confusions in oranges), pooled to
    ``pixels`` a side when cells are smaller than a pixel, and the colour bars that explain them. Works on the
    non-empty cells only: no array grows with the square of the classes."""
    import numpy as np
    from matplotlib.colors import Normalize, PowerNorm

    values = _cell_values(cells, size, normalize)
    diagonal = cells.rows == cells.columns
    inner = (cells.rows < size - 1) & (cells.columns < size - 1) if folded else np.ones(len(values), dtype=bool)
    unit = "fraction" if normalize else "count"
    diagonal_top = 1.0 if normalize in ("true", "pred") else _largest(values, diagonal, inner)
    error_top = _largest(values, ~diagonal, inner)
    scales = []
    codes = np.zeros(len(values))
    cmaps = []
    for kind, mask, name, top, norm, label in (
        (1, diagonal, "Blues", diagonal_top, Normalize(vmin=0, vmax=diagonal_top, clip=True), f"correct ({unit})"),
        (2, ~diagonal, "Oranges", error_top, PowerNorm(gamma=0.5, vmin=0, vmax=error_top, clip=True),
         f"confused ({unit})"),
    ):
        cmap = _tinted(name)
        cmaps.append(cmap)
        if mask.any():
            codes[mask] = 2 * kind + _unit_interval(norm, values[mask])
            clipped = float(values[mask].max()) > top
            ticks = _square_root_ticks(top, not normalize) if isinstance(norm, PowerNorm) else None
            scales.append(_Scale(label, cmap, norm, "both" if clipped else "min", not normalize, ticks))
    return _Colouring(_cell_grid(cells, size, codes, pixels), *cmaps), scales


def _change_colours(change: Any, fractions: bool, folded: bool) -> tuple[_Colouring, Any, _Scale]:
    """Cell colours of head − base by how much worse (red) or better (blue) each cell got; the worse-ness
    (the change, with the diagonal's sign turned: fewer correct is worse)."""
    import numpy as np

    diagonal = np.eye(len(change), dtype=bool)
    worse = np.where(diagonal, -change, change)
    changed = np.abs(change) > 1e-12
    top = _plain_top(np.abs(worse), changed, folded)
    cmap, norm = _diverging(), _square_root_norm(top)
    strength = np.clip(np.sqrt(np.abs(worse) / top), 0.0, 1.0)
    codes = np.where(changed, np.where(worse > 0, 4.0, 2.0) + strength, 0.0)
    colouring = _Colouring(codes, lambda t: cmap(0.5 - 0.5 * t), lambda t: cmap(0.5 + 0.5 * t))
    clipped = float(np.abs(worse).max()) > top
    unit = "fraction of the class" if fractions else "count"
    ticks = _square_root_ticks(top, not fractions, steps=(1 / 4,))
    scale = _Scale(f"change ({unit}): blue better, red worse", cmap, norm, "both" if clipped else "neither",
                   not fractions, [-tick for tick in reversed(ticks[1:])] + ticks, magnitude=True)
    return colouring, np.where(changed, worse, 0.0), scale


# -- cell text ---------------------------------------------------------------------------------------------------


def cell_texts(values: Any, counts: Any, normalize: Normalization | None) -> list[list[str]]:
    """What each cell writes: nothing without samples, ``<0.01`` for a fraction that rounds to 0.00."""
    texts = []
    for value_row, count_row in zip(values.tolist(), counts.tolist()):
        row = []
        for value, count in zip(value_row, count_row):
            if not count:
                row.append("")
            elif normalize:
                row.append("<0.01" if round(value, 2) == 0 else f"{value:.2f}")
            else:
                row.append(str(count))
        texts.append(row)
    return texts


def change_texts(change: Any, fractions: bool) -> list[list[str]]:
    """Signed changes (``+3``, ``−2``, ``+0.05``); nothing where a cell did not change, or changed by a fraction
    that rounds to 0.00 (its colour still shows it)."""
    texts = []
    for row in change.tolist():
        line = []
        for value in row:
            magnitude = abs(value)
            if magnitude <= 1e-12 or (fractions and round(magnitude, 2) == 0):
                line.append("")
            else:
                sign = "+" if value > 0 else MINUS
                line.append(f"{sign}{magnitude:.2f}" if fractions else f"{sign}{round(magnitude)}")
        texts.append(line)
    return texts


# -- drawing -----------------------------------------------------------------------------------------------------

#: A change view up to this many classes puts head and change side by side; larger ones stack them, so each
#: matrix keeps the comment's full width (legible text up to 30 classes, a pixel per cell at 1,000).
SIDE_BY_SIDE_UP_TO = 12
#: Inches of one matrix panel beside another, colour bars below (two fill the widest figure).
SIDE_BY_SIDE_PANEL = 4.7
#: Inches the colour bars take beside a matrix.
COLOUR_BARS_WIDTH = 1.6


def _panel_side(size: int) -> float:
    """Inches of a matrix drawn on its own: cells big enough for their text up to 30 classes; with its colour
    bars it fills the widest figure past that (:data:`cml.report.plots.common.MAX_FIGURE_WIDTH`, 10 inches)."""
    return min(max(4.5 + 0.4 * size, 5.5), 8.4) if size <= ANNOTATE_UP_TO else 8.4


class _Panel(NamedTuple):
    colouring: _Colouring
    texts: list[list[str]] | None
    scales: list[_Scale]


def _matrix_pixels(side: float, requested_width: float) -> int:
    """Image pixels a matrix drawn in a panel of ``side`` inches gets at least (~70% of the side, in a figure
    scaled down to the widest one); past that many cells a side, cells share pixels."""
    return int(0.7 * side * DPI * min(1.0, min(requested_width, MAX_FIGURE_WIDTH) / requested_width))


def _pooled(codes: Any, pixels: int) -> Any:
    """``codes`` reduced to ``pixels`` × ``pixels``, each keeping its block's highest code, so a confusion among
    thousands of cells keeps a pixel of its own colour where scaling the image would drop or blend it away."""
    import numpy as np

    starts = (np.arange(pixels) * len(codes)) // pixels
    return np.maximum.reduceat(np.maximum.reduceat(codes, starts, axis=0), starts, axis=1)


def _tick_label_inches(labels: Sequence[str]) -> float:
    """About how much of a panel's width the longest tick label takes (0.6 em a character at ~10 points)."""
    return 0.075 * min(max(len(label) for label in labels), MAX_TICK_TEXT)


def _draw_matrix(figure: Any, axes: Any, side: float, panel: _Panel, labels: list[str], folded: bool,
                 bars_below: bool, requested_width: float) -> None:
    """Cells, tick labels, axis names, annotations and colour bars of one matrix."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    size = len(labels)
    pixels = _matrix_pixels(side, requested_width)
    # Head colours come pooled already; a change view's dense codes are pooled here, before matplotlib sees them.
    codes = _pooled(panel.colouring.codes, pixels) if len(panel.colouring.codes) > pixels else panel.colouring.codes
    axes.imshow(panel.colouring.rgba(codes), interpolation="nearest", aspect="equal",
                extent=(-0.5, size - 0.5, size - 0.5, -0.5))
    ticks = thin_ticks(size)
    if folded and ticks[-1] != size - 1:
        ticks.append(size - 1)
    rotate = size > 20 or max(len(label) for label in labels) > 3
    tick_labels = [literal(labels[i], MAX_TICK_TEXT) for i in ticks]
    axes.set_xticks(ticks, tick_labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                    rotation_mode="anchor" if rotate else "default")
    axes.set_yticks(ticks, tick_labels)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    if size <= ANNOTATE_UP_TO:
        # Thin lines between cells, so white (empty) cells still read as cells.
        axes.set_xticks(np.arange(size + 1) - 0.5, minor=True)
        axes.set_yticks(np.arange(size + 1) - 0.5, minor=True)
        axes.grid(which="minor", color="#d9d9d9", linewidth=0.6)
        axes.tick_params(which="minor", length=0)
    if panel.texts is not None:
        white = _luminance(panel.colouring.rgba()) < DARK_CELL_LUMINANCE
        # The widest text fits its cell (about 0.6 em a character); the matrix is its panel less the tick labels.
        widest = max(2, max((len(text) for line in panel.texts for text in line), default=2))
        matrix_inches = max(0.4 * side, side - _tick_label_inches(labels) - 0.5)
        font = max(5.0, min(11.0, matrix_inches * 72 / size / (0.62 * widest)))
        for row, line in enumerate(panel.texts):
            for column, text in enumerate(line):
                if text:
                    axes.text(column, row, text, ha="center", va="center", fontsize=font,
                              color="white" if white[row, column] else "black")
    # Below a matrix, its bars hang from it (the default anchors the matrix to their side of its slot, where a
    # figure title above can overlap the matrix's own).
    placement = ({"location": "bottom", "shrink": 0.9, "aspect": 25, "panchor": (0.5, 1.0)} if bars_below
                 else {"shrink": 0.8, "aspect": 30})
    for scale in panel.scales:
        bar = figure.colorbar(ScalarMappable(scale.norm, scale.cmap), ax=axes, pad=0.02, extend=scale.extend,
                              extendfrac=0.04, **placement)
        bar.set_label(scale.label, fontsize="small")
        bar.ax.tick_params(labelsize="small")
        if scale.ticks is not None:
            bar.set_ticks(scale.ticks)
            bar.formatter = FuncFormatter(_magnitude_label if scale.magnitude else _plain_label)
        else:
            bar.locator = MaxNLocator(nbins=4 if bars_below else 6, integer=scale.integer)
        bar.update_ticks()


def _plain_label(value: float, _position: Any = None) -> str:
    return f"{value:g}"


def _magnitude_label(value: float, _position: Any = None) -> str:
    """A change's size: both ends of a change bar read as amounts (their colour says better or worse)."""
    return f"{abs(value):g}"


def _fraction_text(fraction: float) -> str:
    """Three decimals, never rounding a fraction that is not 0 or 1 to ``0.000`` or ``1.000``."""
    text = f"{fraction:.3f}"
    if text == "1.000" and fraction < 1:
        return ">0.999"
    if text == "0.000" and fraction > 0:
        return "<0.001"
    return text


def _summary(accuracy: float, samples: int) -> str:
    return f"accuracy {_fraction_text(accuracy)} · {samples:,} samples"


def _recall(counts: Any) -> Any:
    import numpy as np

    support = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diagonal(counts) / np.where(support > 0, support, 1), np.nan)


def _worsened(head: ConfusionCounts, base: ConfusionCounts, worse: Any, most: int = 5) -> tuple[list, list]:
    """The classes whose recall fell most (label, base recall, head recall), and the confusions that grew most
    (actual, predicted, change in the change view's unit); the "other" row and column left out."""
    import numpy as np

    inner = len(head.labels) - (1 if head.folded else 0)
    head_recall, base_recall = _recall(head.counts)[:inner], _recall(base.counts)[:inner]
    with np.errstate(invalid="ignore"):
        drop = np.where(np.isnan(head_recall) | np.isnan(base_recall), 0.0, base_recall - head_recall)
    order = [i for i in np.argsort(-drop, kind="stable")[:most].tolist() if drop[i] > 1e-12]
    classes = [(head.labels[i], float(base_recall[i]), float(head_recall[i])) for i in order]
    errors = np.where(np.eye(len(worse), dtype=bool), 0.0, worse)[:inner, :inner]
    flat = np.argsort(-errors, axis=None, kind="stable")[:most]
    confusions = [(head.labels[r], head.labels[c], float(errors[r, c]))
                  for r, c in zip(*np.unravel_index(flat, errors.shape)) if errors[r, c] > 1e-12]
    return classes, confusions


def _worse_recall_note(classes: list) -> str:
    """Which classes' recall fell most, for the change view's title."""
    if not classes:
        return "no class lost recall"
    return "recall fell most for " + ", ".join(
        f"{literal(label, 24)} ({_fraction_text(base)} → {_fraction_text(head)})" for label, base, head in classes[:3])


def confusion_matrix(
    y_true: Sequence,
    y_pred: Sequence,
    output: str = "confusion_matrix.png",
    labels: Sequence[str] | None = None,
    normalize: Normalization | None = None,
    title: str = "Confusion matrix",
    max_classes: int = MAX_PLOTTED_CLASSES,
    base: tuple[Sequence, Sequence] | None = None,
    base_label: str = "base",
) -> Plot:
    """Draw the confusion matrix of ``y_true`` against ``y_pred`` into ``output``.

    Classes are in natural order (``2`` before ``10``, ``class2`` before ``class10``) unless ``labels`` orders
    them. Correct predictions are blue and confusions orange, each on its own scale (confusions on a
    square-root one), so rare confusions show at any size; cells without samples are white. Up to 30 classes
    cells write their count or fraction (nothing when empty, ``<0.01`` when a fraction rounds to zero) in
    black or white by the cell's luminance; past that, cells are colour only and tick labels are thinned.
    Past ``max_classes``, the most frequent classes are drawn and the rest summed as "other", which the title
    says (and ``details["folded"]`` counts).

    With ``base`` (the base branch's actual and predicted labels), a change view: the head's matrix and
    head − base over the classes of both sides (folded alike), red where the head got worse (more
    confusions, fewer correct), blue where better, on a signed square-root scale centred at 0. The change is
    in the head panel's unit, except that counts become fractions of each actual class (``true``) when the
    sides have different sample counts, since counts would differ for that reason alone; the panel's title
    says so. Up to 12 classes the panels are side by side, past that one above the other. ``details`` also
    holds both accuracies, the change matrix (``change``, in that unit), ``worse_cells`` and
    ``better_cells``, the classes whose recall fell most (``worsened_classes``) and the confusions that grew
    most (``worsened_confusions``).
    """
    check_output(output)
    _check_normalize(normalize)
    counted = _count_cells(y_true, y_pred, base, labels, max_classes)
    return _draw_confusion(counted, output, normalize, title, max_classes, base_label)


def _check_normalize(normalize: Normalization | None) -> None:
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise UsageError(f"'{normalize}' is not one of {', '.join(NORMALIZATIONS)}", parameter="normalize")


def _draw_confusion(counted: _Counted, output: str, normalize: Normalization | None, title: str, max_classes: int,
                    base_label: str) -> Plot:
    """The figure of :func:`confusion_matrix` from counts (the change view when they have a base side)."""
    base = counted.sides[1] if len(counted.sides) > 1 else None
    shown, head_cells, folded = counted.labels, counted.sides[0], bool(counted.folded)
    size = len(shown)
    samples = int(head_cells.counts.sum())
    accuracy = head_cells.correct / samples
    if base is None:
        side = _panel_side(size)
        width = side + COLOUR_BARS_WIDTH
    elif size <= SIDE_BY_SIDE_UP_TO:
        side = SIDE_BY_SIDE_PANEL
        width = 2 * side + 0.6
    else:
        side = _panel_side(size)
        width = side + COLOUR_BARS_WIDTH
    colouring, scales = _head_colours(head_cells, size, normalize, folded, _matrix_pixels(side, width))
    texts = None
    if size <= ANNOTATE_UP_TO:
        counts = head_cells.dense(size)
        texts = cell_texts(normalize_matrix(counts, normalize), counts, normalize)
    head_panel = _Panel(colouring, texts, scales)
    details: dict[str, Any] = {"classes": counted.classes, "folded": counted.folded, "samples": samples,
                               "accuracy": accuracy, "labels": shown, "normalize": normalize,
                               "annotations": head_panel.texts}
    note = f"\n{folding_note(max_classes, counted.classes, 'The matrix')}" if folded else ""
    if base is None:
        figure = new_figure(width, side + 0.6 + 0.3 * bool(folded))
        axes = figure.add_subplot()
        _draw_matrix(figure, axes, side, head_panel, shown, folded, bars_below=False, requested_width=width)
        axes.set_title(f"{literal(title)}\n{_summary(accuracy, samples)}{note}", fontsize="medium")
        panels = {"head": axes}
    else:
        # The change view keeps dense matrices of the drawn classes (its details hold the change matrix).
        head, base_counts = (_matrix_counts(counted, cells) for cells in counted.sides)
        counts = head.counts
        base_samples = int(base_counts.counts.sum())
        base_accuracy = base_counts.correct / base_samples
        change_normalize = normalize or ("true" if base_samples != samples else None)
        change = normalize_matrix(counts, change_normalize) - normalize_matrix(base_counts.counts, change_normalize)
        if change_normalize in ("true", "pred"):
            # A class with no samples on one side has no fractions there to compare: its row (column) is no change,
            # not a class that got worse.
            axis = 1 if change_normalize == "true" else 0
            empty = (counts.sum(axis=axis) == 0) | (base_counts.counts.sum(axis=axis) == 0)
            if change_normalize == "true":
                change[empty, :] = 0.0
            else:
                change[:, empty] = 0.0
        fractions = change_normalize is not None
        change_colouring, worse, change_scale = _change_colours(change, fractions, folded)
        change_panel = _Panel(change_colouring, change_texts(change, fractions) if size <= ANNOTATE_UP_TO else None,
                              [change_scale])
        classes, confusions = _worsened(head, base_counts, worse)
        if size <= SIDE_BY_SIDE_UP_TO:
            figure = new_figure(width, side + 2.8 - 0.2 * _tick_label_inches(shown) + 0.3 * bool(folded))
            head_axes, change_axes = figure.subplots(1, 2)
        else:
            figure = new_figure(width, 2 * side + 2.2 + 0.3 * bool(folded))
            head_axes, change_axes = figure.subplots(2, 1)
        below = size <= SIDE_BY_SIDE_UP_TO
        _draw_matrix(figure, head_axes, side, head_panel, shown, folded, below, width)
        _draw_matrix(figure, change_axes, side, change_panel, shown, folded, below, width)
        head_axes.set_title(f"head\n{_summary(accuracy, samples)}", fontsize="medium")
        unit = {None: "counts", "true": "row fractions", "pred": "column fractions", "all": "fractions of all"}
        subtitle = unit[change_normalize]
        if change_normalize == "true" and normalize is None:
            subtitle += f": sample counts differ ({base_samples:,} → {samples:,})"
        change_axes.set_title(f"head {MINUS} {literal(base_label, 40)}\n{subtitle}", fontsize="medium")
        figure.suptitle(f"{literal(title)}\nChange vs {literal(base_label)}: accuracy {_fraction_text(base_accuracy)} → "
                        f"{_fraction_text(accuracy)}\n{_worse_recall_note(classes)}{note}", fontsize="large")
        details.update(base_label=base_label, base_accuracy=base_accuracy, base_samples=base_samples,
                       change=change, change_normalize=change_normalize, change_annotations=change_panel.texts,
                       worse_cells=int((worse > 0).sum()), better_cells=int((worse < 0).sum()),
                       worsened_classes=classes, worsened_confusions=confusions)
        panels = {"head": head_axes, "change": change_axes}
    plot = save_figure(figure, output, title, **details)
    # Where each matrix landed, as fractions of the image from its top-left corner (for checks of the pixels).
    width, height = figure.bbox.width, figure.bbox.height
    boxes = {}
    for name, axes in panels.items():
        extent = axes.get_window_extent()
        boxes[name] = (extent.x0 / width, 1 - extent.y1 / height, extent.x1 / width, 1 - extent.y0 / height)
    plot.details["matrix_boxes"] = boxes
    return plot


def confusion_from_table(
    table: Table,
    output: str,
    *,
    base_table: Table | None = None,
    base_label: str = "base",
    y_true: str | None = None,
    y_pred: str | None = None,
    normalize: Normalization | None = None,
    title: str = "Confusion matrix",
    max_classes: int = MAX_PLOTTED_CLASSES,
) -> Plot:
    """The confusion matrix of a table's actual and predicted columns (``y_true``/``y_pred``, else the usual
    names: DVC's and dvclive's ``actual``/``predicted``, ``y_true``/``y_pred``…), with the change against
    ``base_table`` (the same file at the base revision) when given.

    A base table without those columns is not an error (the file's layout may have changed on the branch):
    the head is drawn alone and ``details["warnings"]`` says why.
    """
    check_output(output)
    counted, warnings = _count_tables(table, base_table, y_true, y_pred, normalize, max_classes)
    plot = _draw_confusion(counted, output, normalize, title, max_classes, base_label)
    plot.details["warnings"] = warnings
    return plot


def _count_tables(table: Table, base: Table | None, y_true: str | None, y_pred: str | None,
                  normalize: Normalization | None, max_classes: int) -> tuple[_Counted, list[str]]:
    """The counts of a table's labels (and its base's, unless it lacks the columns: then a warning says so)."""
    actual, predicted = label_pairs(table, y_true, y_pred)
    warnings = []
    base_labels = None
    if base is not None:
        try:
            base_labels = label_pairs(base, y_true, y_pred)
        except (UsageError, InputError) as error:
            warnings.append(f"{error}; drawing the head without comparison")
    _check_normalize(normalize)
    return _count_cells(actual, predicted, base_labels, None, max_classes), warnings


def confusion_from_file(
    path: FilePath,
    output: str,
    *,
    revision: Revision | None = None,
    y_true: str | None = None,
    y_pred: str | None = None,
    normalize: Normalization | None = None,
    title: str = "Confusion matrix",
    max_classes: int = MAX_PLOTTED_CLASSES,
) -> tuple[Plot, list[str]]:
    """The confusion matrix of the table at ``path``, with its change against the same file at git ``revision``
    (read from git, no checkout); returns the plot and warnings (one line each) about the comparison, which is
    left out, never failed, when the file is not at ``revision`` or cannot be read there."""
    check_output(output)
    table = load_table(path)
    base, reason = base_table(path, revision) if revision is not None else (None, None)
    counted, warnings = _count_tables(table, base, y_true, y_pred, normalize, max_classes)
    # The tables' text is the bulk of the memory; drawing needs only the counts.
    del table, base
    plot = _draw_confusion(counted, output, normalize, title, max_classes, revision.name if revision else "base")
    plot.details["warnings"] = warnings
    return plot, ([reason] if reason else []) + warnings
