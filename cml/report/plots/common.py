"""Figure creation, atomic saving and fast downsampling shared by every plot."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Sequence

from cml.errors import UsageError
from cml.fileio import atomic_path
from cml.report.markdown import image_markdown, link_target

SAVE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MAX_DRAWN_POINTS = 4000
#: Pixels per inch of every image.
DPI = 120
#: GitHub's comment column shows an image at most this many CSS pixels wide and scales wider ones down.
COMMENT_WIDTH_PIXELS = 880
#: The widest figure, in inches (1,200 pixels): :func:`new_figure` scales a wider request down, keeping its shape,
#: so text keeps at least 73% of its size once GitHub scales the image to its comment width.
MAX_FIGURE_WIDTH = 10.0
#: The smallest font of titles, axis and tick labels and legends, in points; 9 points at the widest figure show
#: as 11 CSS pixels in a comment. :func:`save_figure` raises smaller ones to it (text in cells is the plot's own).
MIN_FONT_SIZE = 9.0
#: The opaque background of every image, so it reads the same in GitHub's light and dark themes.
BACKGROUND = "white"
#: Whether a PNG is stored with a palette of at most 256 colours when that is faithful (flat colours and
#: antialiasing, as plots are), which makes it about a third of the size; a switch for measuring its cost.
PALETTE_PNG = True
#: A palette is faithful when the mean error per channel stays within this (of 255, well under what an eye sees)…
PALETTE_MEAN_ERROR = 1.0
#: …and at most one pixel in a thousand is off by more than this in some channel.
PALETTE_PIXEL_ERROR = 24
#: A PNG that zlib's default level packs into at most this many bytes is packed again at its best level (10–20%
#: smaller, in tens of milliseconds); larger ones (a confusion matrix of a hundred classes, 55 KB: 4% smaller for
#: 60 ms; a thousand classes, noise-like) gain less than the time it takes.
OPTIMISE_UP_TO_BYTES = 32 * 1024
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
    """One line to draw: ``x`` and ``y`` values, a legend label and a line style; ``metric`` names what ``y``
    measures (a column or metric name), from which a plot's title and y label are made."""

    label: str
    x: Any
    y: Any
    dashed: bool = False
    color_key: str | None = None
    metric: str | None = None


def check_output(path: str | os.PathLike, parameter: str = "output") -> str:
    """Validate an output path's extension before any work is done; the error names ``parameter``."""
    path = os.fspath(path)
    if os.path.splitext(path)[1].lower() not in SAVE_FORMATS:
        raise UsageError(f"'{path}' must end in .png, .svg or .pdf", parameter=parameter)
    return path


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot, no global state) with an opaque white background.

    A figure wider than :data:`MAX_FIGURE_WIDTH` inches is scaled down to it, its shape kept: an image wider than
    a comment is shown smaller, text included, so a narrower figure with the same font sizes reads better.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width > MAX_FIGURE_WIDTH:
        width, height = MAX_FIGURE_WIDTH, height * MAX_FIGURE_WIDTH / width
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained", facecolor=BACKGROUND)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Any, path: str, title: str, **details: Any) -> Plot:
    """Save ``figure`` atomically in the format its extension names, on an opaque background with readable fonts.

    A PNG is written by Pillow: without an alpha channel, with a palette when that is faithful
    (see :data:`PALETTE_PNG`), optimised, and with ``Software: cml`` in its metadata.
    """
    path = check_output(path)
    file_format = SAVE_FORMATS[os.path.splitext(path)[1].lower()]
    import matplotlib

    _make_readable(figure)
    if file_format == "png":
        with atomic_path(path) as temporary:
            write_png(figure, temporary)
        return Plot(path=path, title=title, details=details)
    # SVG keeps text as text: smaller files, searchable labels.
    with matplotlib.rc_context({"svg.fonttype": "none"}), atomic_path(path) as temporary:
        figure.savefig(temporary, format=file_format, dpi=figure.dpi, facecolor=figure.get_facecolor(),
                       transparent=False, metadata=None)
    return Plot(path=path, title=title, details=details)


def _make_readable(figure: Any) -> None:
    """Opaque figure and axes backgrounds; titles, axis labels, tick labels and legends of at least
    :data:`MIN_FONT_SIZE` points."""
    from matplotlib.colors import to_rgba

    if to_rgba(figure.get_facecolor())[3] < 1:
        figure.set_facecolor(BACKGROUND)
    for axes in figure.axes:
        if to_rgba(axes.get_facecolor())[3] < 1:
            axes.set_facecolor(BACKGROUND)
        texts = [axes.title, axes.xaxis.label, axes.yaxis.label]
        legend = axes.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
        for text in texts:
            if text.get_fontsize() < MIN_FONT_SIZE:
                text.set_fontsize(MIN_FONT_SIZE)
        for name, axis in (("x", axes.xaxis), ("y", axes.yaxis)):
            ticks = axis.get_major_ticks()
            if ticks and ticks[0].label1.get_fontsize() < MIN_FONT_SIZE:
                axes.tick_params(axis=name, which="both", labelsize=MIN_FONT_SIZE)


def write_png(figure: Any, path: str | os.PathLike) -> None:
    """Render ``figure`` with Agg and write it to ``path`` as a PNG without alpha: a palette image when
    :func:`faithful_palette` finds one, else RGB; optimised (zlib's best level) up to :data:`OPTIMISE_UP_TO_BYTES`."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    alpha = rgba[..., 3:4]
    if (alpha == 255).all():
        pixels = np.ascontiguousarray(rgba[..., :3])
    else:  # composed over white, as a viewer shows it, so no theme shows through
        pixels = (rgba[..., :3] * (alpha / 255.0) + 255.0 * (1 - alpha / 255.0)).round().astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if PALETTE_PNG:
        image = faithful_palette(image, pixels) or image
    info = PngInfo()
    info.add_text("Software", "cml")
    encoded = io.BytesIO()
    image.save(encoded, format="PNG", compress_level=6, pnginfo=info)
    if encoded.tell() <= OPTIMISE_UP_TO_BYTES:
        encoded = io.BytesIO()
        image.save(encoded, format="PNG", optimize=True, pnginfo=info)
    with open(path, "wb") as handle:
        handle.write(encoded.getbuffer())


def faithful_palette(image: Any, pixels: Any) -> Any:
    """``image`` (RGB, whose array is ``pixels``) with an adaptive palette of at most 256 colours and no
    dithering, or ``None`` when the palette would change it visibly (see :data:`PALETTE_MEAN_ERROR` and
    :data:`PALETTE_PIXEL_ERROR`, measured on every other row).

    Median cut keeps the flat colours of lines, cells and text exact; what it moves are antialiased edge pixels
    and, in a colour bar's gradient, neighbouring shades merged into steps of a few levels.
    """
    import numpy as np
    from PIL import Image

    quantised = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = np.asarray(quantised.getpalette() or [], dtype=np.int16).reshape(-1, 3)
    sampled = pixels[::2]
    error = np.abs(palette[np.asarray(quantised)[::2]] - sampled)
    if float(error.mean()) > PALETTE_MEAN_ERROR:
        return None
    if np.count_nonzero((error > PALETTE_PIXEL_ERROR).any(axis=2)) * 1000 > sampled.shape[0] * sampled.shape[1]:
        return None
    return quantised


#: Points :func:`downsample` works on at once (its temporary copies stay a few MB at any length).
DOWNSAMPLE_BLOCK_POINTS = 1 << 18


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
    low = np.empty(buckets, dtype=np.intp)
    high = np.empty(buckets, dtype=np.intp)
    # A block of buckets at a time: NaN-free copies of 10^7 points would double the memory a large plot needs.
    block = max(1, DOWNSAMPLE_BLOCK_POINTS // size)
    with np.errstate(invalid="ignore"):
        for first in range(0, buckets, block):
            last = min(first + block, buckets)
            shaped = y[first * size:last * size].reshape(last - first, size)
            missing = np.isnan(shaped)
            low[first:last] = np.where(missing, np.inf, shaped).argmin(axis=1)
            high[first:last] = np.where(missing, -np.inf, shaped).argmax(axis=1)
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




#: What a file name made by :class:`ImageNames` holds, other characters becoming ``_``.
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


class ImageNames:
    """Unique image files in one folder, named after plot ids or stems: ``Losses`` → ``losses.png``,
    ``train/val.loss`` → ``train_val_loss.png`` (lower-case letters and digits joined by ``_``, at most 80, ``plot``
    when none is left, so names are the same on every file system), ``_2``, ``_3``… added to a name already taken."""

    def __init__(self, folder: str):
        self.folder = folder
        #: The file names given out (or taken by others in the folder), lower case.
        self.taken: set[str] = set()

    def __call__(self, stem: str, suffix: str = ".png") -> str:
        """The path of a new file in the folder named after ``stem``, ending in ``suffix``."""
        cleaned = "".join(character if character in _NAME_CHARACTERS else " " for character in stem.lower())
        base = "_".join(cleaned.split())[:80].rstrip("_") or "plot"
        name, counter = f"{base}{suffix}", 2
        while name.lower() in self.taken:
            name, counter = f"{base}_{counter}{suffix}", counter + 1
        self.taken.add(name.lower())
        return os.path.join(self.folder, name)
