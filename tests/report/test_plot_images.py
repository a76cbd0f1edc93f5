"""Every plot kind as a reviewer sees it in a pull-request comment: an opaque white image that reads the same in
GitHub's dark and light themes, no wider than a comment can show legibly, and a small, optimised PNG."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cml.report.plots import (
    Series,
    confusion_matrix,
    line_plot,
    pr_curve,
    pr_curve_from_points,
    roc_curve,
    roc_curve_from_points,
)
from cml.report.plots.common import (
    COMMENT_WIDTH_PIXELS,
    DPI,
    MAX_FIGURE_WIDTH,
    MIN_FONT_SIZE,
    faithful_palette,
    new_figure,
    save_figure,
    write_png,
)

WIDEST = round(MAX_FIGURE_WIDTH * DPI)
#: Upper bounds on file sizes, about twice what each kind measured (line 15 KB, 10 classes 30 KB, 1,000 classes
#: 80 KB, ROC and PR 16–25 KB); before palettes and optimisation they were 2–3 times the measurements.
KIB = 1024


def _labels(rng, classes: int, samples: int, accuracy: float) -> tuple[list[str], list[str]]:
    actual = rng.integers(0, classes, samples)
    predicted = np.where(rng.random(samples) < accuracy, actual, rng.integers(0, classes, samples))
    return [str(v) for v in actual], [str(v) for v in predicted]


def _scores(rng, samples: int = 20_000):
    truth = rng.integers(0, 3, samples)
    probabilities = rng.dirichlet([1, 1, 1], samples) * 0.6
    probabilities[np.arange(samples), truth] += 0.4
    return [str(v) for v in truth], {str(label): probabilities[:, label] for label in range(3)}


def _draw_line(folder: Path, rng) -> str:
    x = np.arange(1_000_000, dtype=float)
    y = np.exp(-x / 300_000) + rng.normal(0, 0.02, x.size)
    base = np.exp(-x / 250_000) + rng.normal(0, 0.02, x.size)
    return line_plot([Series("loss", x, y, metric="loss"), Series("loss (main)", x, base, dashed=True,
                                                                   color_key="loss", metric="loss")],
                     str(folder / "line.png")).path


def _draw_confusion(folder: Path, rng, name: str, classes: int, samples: int, normalize=None) -> str:
    actual, predicted = _labels(rng, classes, samples, 0.8)
    return confusion_matrix(actual, predicted, str(folder / name), normalize=normalize).path


#: name -> (drawing function, largest file in KiB)
KINDS = {
    "line of 10^6 points with a base overlay": (_draw_line, 40),
    "confusion, 10 classes": (lambda folder, rng: _draw_confusion(folder, rng, "cm10.png", 10, 5_000), 60),
    "confusion, 10 classes, normalised": (
        lambda folder, rng: _draw_confusion(folder, rng, "cm10n.png", 10, 5_000, "true"), 80),
    "confusion, 1,000 classes": (lambda folder, rng: _draw_confusion(folder, rng, "cm1000.png", 1000, 100_000), 200),
    "ROC, one-vs-rest": (lambda folder, rng: roc_curve(*_scores(rng), str(folder / "roc.png")).path, 50),
    "PR, one-vs-rest": (lambda folder, rng: pr_curve(*_scores(rng), str(folder / "pr.png")).path, 50),
    "ROC from points": (lambda folder, rng: roc_curve_from_points([0, 0.1, 0.3, 1], [0, 0.7, 0.9, 1],
                                                                  str(folder / "roc_points.png")).path, 40),
    "PR from points": (lambda folder, rng: pr_curve_from_points([1, 0.8, 0.6], [0.2, 0.7, 1],
                                                                str(folder / "pr_points.png")).path, 40),
}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> dict[str, Path]:
    """Every kind drawn once, as PNG."""
    folder = tmp_path_factory.mktemp("plots")
    rng = np.random.default_rng(17)
    return {name: Path(draw(folder, rng)) for name, (draw, _) in KINDS.items()}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_plot_is_an_opaque_white_png_that_a_comment_shows_legibly(drawn, kind):
    path = drawn[kind]
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.info.get("Software") == "cml"
        assert "transparency" not in image.info and image.mode in ("P", "RGB"), image.mode
        rgba = np.asarray(image.convert("RGBA"))
    assert rgba[..., 3].min() == 255, "no pixel may let a dark theme show through"
    height, width = rgba.shape[:2]
    for corner in (rgba[0, 0], rgba[0, -1], rgba[-1, 0], rgba[-1, -1]):
        assert tuple(corner) == (255, 255, 255, 255)
    assert 500 <= width <= WIDEST and height <= 1.25 * WIDEST, (width, height)
    # The smallest text, once GitHub scales the image down to its comment column, in CSS pixels.
    assert MIN_FONT_SIZE * DPI / 72 * min(1.0, COMMENT_WIDTH_PIXELS / width) >= 11
    dark = (rgba[..., :3].astype(int).sum(axis=2) < 3 * 80).sum()
    assert dark > 200, "the text is dark on the white background"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_plot_file_is_small(drawn, kind):
    largest = KINDS[kind][1]
    size = drawn[kind].stat().st_size
    assert size < largest * KIB, f"{kind}: {size / KIB:.1f} KiB"


def _figure_with_text(width: float = 8.0, height: float = 4.8):
    figure = new_figure(width, height)
    axes = figure.add_subplot()
    x = np.linspace(0, 10, 500)
    for shift in range(4):
        axes.plot(x, np.sin(x + shift), linewidth=1.4)
    axes.set_title("A title", fontsize=5)
    axes.set_xlabel("step", fontsize=4)
    axes.tick_params(labelsize=3)
    axes.legend(["a", "b", "c", "d"], fontsize=2)
    return figure, axes


def test_the_palette_is_faithful_to_what_matplotlib_drew(tmp_path):
    figure, _ = _figure_with_text()
    write_png(figure, tmp_path / "plot.png")
    rendered = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(int)
    with Image.open(tmp_path / "plot.png") as image:
        assert image.mode == "P"
        written = np.asarray(image.convert("RGB")).astype(int)
    error = np.abs(written - rendered)
    assert error.mean() < 0.5 and np.percentile(error.max(axis=2), 99.9) <= 24


def test_an_image_that_a_palette_would_band_stays_rgb(tmp_path):
    ramp = np.linspace(0, 255, 600)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), axis=2)
    pixels = np.ascontiguousarray(pixels.round().astype(np.uint8))
    assert faithful_palette(Image.fromarray(pixels, "RGB"), pixels) is None

    figure = new_figure(6, 6)
    figure.add_subplot().imshow(pixels, interpolation="nearest")
    save_figure(figure, str(tmp_path / "smooth.png"), "smooth")
    with Image.open(tmp_path / "smooth.png") as image:
        assert image.mode == "RGB"
        assert np.asarray(image)[0, 0].tolist() == [255, 255, 255]


def test_a_figure_wider_than_a_comment_is_scaled_down_keeping_its_shape(tmp_path):
    figure = new_figure(13.2, 12.0)
    assert tuple(figure.get_size_inches()) == pytest.approx((MAX_FIGURE_WIDTH, 12.0 * MAX_FIGURE_WIDTH / 13.2))
    figure.add_subplot().plot([0, 1], [0, 1])
    save_figure(figure, str(tmp_path / "wide.png"), "wide")
    with Image.open(tmp_path / "wide.png") as image:
        assert image.size == (WIDEST, int(12.0 * MAX_FIGURE_WIDTH / 13.2 * DPI))
    assert tuple(new_figure(6.4, 5.6).get_size_inches()) == pytest.approx((6.4, 5.6))


def test_titles_labels_ticks_and_legends_get_at_least_the_smallest_readable_font(tmp_path):
    figure, axes = _figure_with_text()
    save_figure(figure, str(tmp_path / "fonts.png"), "fonts")
    legend = axes.get_legend()
    for text in (axes.title, axes.xaxis.label, *legend.get_texts(), *axes.get_xticklabels(), *axes.get_yticklabels()):
        assert text.get_fontsize() >= MIN_FONT_SIZE, text


def test_a_transparent_figure_is_written_opaque_in_every_format(tmp_path):
    for extension in ("png", "svg", "pdf"):
        figure = new_figure(5, 4)
        figure.set_facecolor("none")
        axes = figure.add_subplot()
        axes.set_facecolor((1, 1, 1, 0))
        axes.plot([0, 1], [1, 0])
        save_figure(figure, str(tmp_path / f"clear.{extension}"), "clear")
    with Image.open(tmp_path / "clear.png") as image:
        rgba = np.asarray(image.convert("RGBA"))
    assert rgba[..., 3].min() == 255 and tuple(rgba[0, 0]) == (255, 255, 255, 255)
    svg = (tmp_path / "clear.svg").read_text()
    background = re.search(r'<g id="patch_1">\s*<path d="[^"]*"\s*style="([^"]*)"', svg)
    assert background and "fill: #ffffff" in background.group(1) and "opacity" not in background.group(1)
    assert (tmp_path / "clear.pdf").read_bytes().startswith(b"%PDF")
