"""Confusion matrices: natural class order, errors that show at every size, blank empty cells, readable text,
and the change view against the base branch (real images, checked by their pixels and drawn text)."""

import html
import re
import time

import numpy as np
import pytest
from PIL import Image

from cml import Report
from cml.errors import UsageError
from cml.report.classification import sorted_labels
from cml.report.data import natural_sort_key, parse_table
from cml.report.plots.confusion import confusion_from_table, confusion_matrix, count_matrices, count_matrix
from tests.conftest import assert_image

WHITE = np.array([255, 255, 255])


def cell_colour(plot, row: int, column: int, panel: str = "head", size: int | None = None) -> np.ndarray:
    """The colour of a cell of a drawn matrix, read from the PNG a quarter of the way into the cell (clear of
    its centred text)."""
    pixels = np.asarray(Image.open(plot.path).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    left, top, right, bottom = plot.details["matrix_boxes"][panel]
    size = size or len(plot.details["labels"])
    x = (left + (right - left) * (column + 0.25) / size) * width
    y = (top + (bottom - top) * (row + 0.25) / size) * height
    return pixels[int(round(y)), int(round(x))]


def is_white(colour) -> bool:
    return bool(np.abs(np.asarray(colour) - WHITE).max() <= 3)


def is_orange(colour) -> bool:
    """Clearly tinted (not near white) and warm: red well above blue."""
    red, green, blue = (int(v) for v in colour)
    return min(colour) < 200 and red - blue > 80


def is_blue(colour) -> bool:
    red, green, blue = (int(v) for v in colour)
    return min(colour) < 220 and blue - red > 30


def is_red(colour) -> bool:
    red, green, blue = (int(v) for v in colour)
    return min(colour) < 220 and red - blue > 30


def svg_texts(path) -> list[tuple[str, str]]:
    """Each drawn text of an SVG (matplotlib writes text as text) with its fill colour."""
    with open(path, encoding="utf-8") as handle:
        svg = handle.read()
    found = []
    for style, content in re.findall(r'<text style="([^"]*)"[^>]*>([^<]*)</text>', svg):
        fill = re.search(r"fill: (#[0-9a-f]{6})", style)
        found.append((html.unescape(content), fill.group(1) if fill else "#000000"))
    return found


# -- natural order ---------------------------------------------------------------------------------------------


def test_labels_sort_in_natural_order_with_embedded_numbers():
    labels = ["class10", "img_10", "10", "class2", "img_9", "2", "Class1", "b", "1.5", "img_09", "a10b2", "a10b10"]
    assert sorted(labels, key=natural_sort_key) == [
        "1.5", "2", "10", "a10b2", "a10b10", "b", "Class1", "class2", "class10", "img_09", "img_9", "img_10"]
    assert sorted(["x" + "9" * 5000, "x10", "x9"], key=natural_sort_key) == ["x9", "x10", "x" + "9" * 5000]
    assert sorted_labels(["cat10", "cat9"], ["dog", "cat1"]) == ["cat1", "cat9", "cat10", "dog"]


def test_matrix_classes_and_tick_labels_are_in_natural_order(tmp_path):
    actual = ["class10", "class2", "class1", "img_10", "img_9"]
    predicted = ["class2", "class2", "class1", "img_9", "img_9"]
    assert count_matrix(actual, predicted).labels == ["class1", "class2", "class10", "img_9", "img_10"]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.svg"))
    assert plot.details["labels"] == ["class1", "class2", "class10", "img_9", "img_10"]
    drawn = [text for text, _ in svg_texts(plot.path)]
    ticks = [text for text in drawn if text.startswith(("class", "img_"))]
    assert ticks == ["class1", "class2", "class10", "img_9", "img_10"] * 2  # x axis, then y axis


# -- colours that show the errors ------------------------------------------------------------------------------


def test_one_confusion_beside_a_thousand_correct_is_plainly_orange_and_empty_cells_are_white(tmp_path):
    actual = ["a"] * 1000 + ["b"] * 1000 + ["c"] * 1000 + ["a"]
    predicted = ["a"] * 1000 + ["b"] * 1000 + ["c"] * 1000 + ["b"]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.png"))
    assert_image(plot.path)
    assert is_orange(cell_colour(plot, 0, 1)), cell_colour(plot, 0, 1)
    for row, column in ((0, 2), (1, 0), (2, 1)):
        assert is_white(cell_colour(plot, row, column)), (row, column, cell_colour(plot, row, column))
    for index in range(3):
        assert is_blue(cell_colour(plot, index, index))
    assert plot.details["annotations"] == [["1000", "1", ""], ["", "1000", ""], ["", "", "1000"]]


def test_a_rare_confusion_stays_visible_beside_frequent_ones(tmp_path):
    # The confusion scale is its own (off-diagonal maximum 400) and a square root: 1 of 400 is still a tint.
    actual = ["a"] * 1000 + ["b"] * 1000 + ["c"] * 1000 + ["a"] * 400 + ["c"]
    predicted = ["a"] * 1000 + ["b"] * 1000 + ["c"] * 1000 + ["b"] * 400 + ["a"]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.png"))
    rare, frequent = cell_colour(plot, 2, 0), cell_colour(plot, 0, 1)
    assert is_orange(rare) and is_orange(frequent), (rare, frequent)
    assert rare.sum() > frequent.sum(), "the rare confusion is the lighter one"


@pytest.mark.parametrize("classes", [40, 1000])
def test_errors_show_without_annotations_past_30_classes(tmp_path, classes):
    labels = [f"c{i}" for i in range(classes)]
    row, column = classes * 3 // 10, classes * 7 // 10
    actual = [label for label in labels for _ in range(200)] + [labels[row]]
    predicted = list(actual[:-1]) + [labels[column]]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.png"))
    assert plot.details["annotations"] is None
    pixels = np.asarray(Image.open(plot.path).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    left, top, right, bottom = plot.details["matrix_boxes"]["head"]
    # The cell's whereabouts (a cell is about a pixel at 1,000 classes): some pixel there is clearly orange.
    x = (left + (right - left) * (column + 0.5) / classes) * width
    y = (top + (bottom - top) * (row + 0.5) / classes) * height
    around = pixels[int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3].reshape(-1, 3)
    assert any(is_orange(colour) for colour in around), around
    # Far from the diagonal and the error, the matrix is white.
    x = (left + (right - left) * (classes - 5.5) / classes) * width
    y = (top + (bottom - top) * 5.5 / classes) * height
    assert is_white(pixels[int(y), int(x)])


def test_normalised_matrices_leave_empty_cells_blank_and_mark_tiny_fractions(tmp_path):
    actual = ["a"] * 1000 + ["b"] * 4 + ["a"]
    predicted = ["a"] * 1000 + ["b"] * 3 + ["a"] + ["b"]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.svg"), normalize="true")
    assert plot.details["annotations"] == [["1.00", "<0.01"], ["0.25", "0.75"]]
    drawn = [text for text, _ in svg_texts(plot.path)]
    assert "<0.01" in drawn and "0.00" not in drawn
    zeros = confusion_matrix(["a", "b", "b"], ["a", "b", "b"], str(tmp_path / "z.png"), normalize="all")
    assert zeros.details["annotations"] == [["0.33", ""], ["", "0.67"]]
    # Nothing is drawn in an empty cell: all of it (inside its grid lines) is white.
    pixels = np.asarray(Image.open(zeros.path).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    left, top, right, bottom = zeros.details["matrix_boxes"]["head"]
    for row, column in ((0, 1), (1, 0)):
        x0, x1 = (left + (right - left) * (column + np.array([0.1, 0.9])) / 2) * width
        y0, y1 = (top + (bottom - top) * (row + np.array([0.1, 0.9])) / 2) * height
        cell = pixels[int(y0):int(y1), int(x0):int(x1)].reshape(-1, 3)
        assert (np.abs(cell - WHITE).max(axis=1) <= 3).all(), (row, column)


def test_cell_text_is_white_on_dark_cells_and_black_on_light_ones(tmp_path):
    actual = ["a"] * 1000 + ["b"] * 10 + ["a"] * 40 + ["a"]
    predicted = ["a"] * 1000 + ["b"] * 10 + ["b"] * 40 + ["c"]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.svg"))
    fills: dict[str, str] = {}
    for text, fill in svg_texts(plot.path):  # cells are drawn before the colour bars' ticks
        fills.setdefault(text, fill)
    assert fills["1000"] == "#ffffff"  # the darkest blue
    assert fills["40"] == "#ffffff"  # the darkest orange
    assert fills["1"] == "#000000"  # a light orange
    assert fills["10"] == "#000000"  # a light blue


def test_title_says_accuracy_and_samples_without_rounding_to_perfect(tmp_path):
    actual = ["a"] * 2000 + ["b"]
    plot = confusion_matrix(actual, ["a"] * 2001, str(tmp_path / "cm.svg"), title="Validation")
    drawn = [text for text, _ in svg_texts(plot.path)]
    assert "accuracy >0.999 · 2,001 samples" in drawn and "Validation" in drawn
    assert "Actual" in drawn and "Predicted" in drawn
    assert plot.title == "Validation" and plot.details["accuracy"] == 2000 / 2001


# -- the change view -------------------------------------------------------------------------------------------

# base: a→a 10, a→b 2, b→b 10, c→c 3; head: a→a 8, a→b 4, b→b 12, d→d 1 (25 samples each, classes a b c d).
BASE = (["a"] * 12 + ["b"] * 10 + ["c"] * 3, ["a"] * 10 + ["b"] * 2 + ["b"] * 10 + ["c"] * 3)
HEAD = (["a"] * 12 + ["b"] * 12 + ["d"], ["a"] * 8 + ["b"] * 4 + ["b"] * 12 + ["d"])


def test_change_view_subtracts_the_base_over_the_classes_of_both_sides(tmp_path):
    plot = confusion_matrix(*HEAD, str(tmp_path / "cm.png"), base=BASE, base_label="origin/main")
    details = plot.details
    assert details["labels"] == ["a", "b", "c", "d"]
    assert details["change_normalize"] is None
    assert details["change"].tolist() == [[-2, 2, 0, 0], [0, 2, 0, 0], [0, 0, -3, 0], [0, 0, 0, 1]]
    assert details["change_annotations"] == [["−2", "+2", "", ""], ["", "+2", "", ""], ["", "", "−3", ""],
                                             ["", "", "", "+1"]]
    assert (details["worse_cells"], details["better_cells"]) == (3, 2)
    assert details["accuracy"] == 21 / 25 and details["base_accuracy"] == 23 / 25
    assert details["worsened_classes"] == [("a", 10 / 12, 8 / 12)]
    assert details["worsened_confusions"] == [("a", "b", 2.0)]
    # Worse is red (fewer correct on the diagonal, more confusions off it), better blue, unchanged white.
    for row, column in ((0, 0), (0, 1), (2, 2)):
        assert is_red(cell_colour(plot, row, column, "change")), (row, column)
    for row, column in ((1, 1), (3, 3)):
        assert is_blue(cell_colour(plot, row, column, "change")), (row, column)
    for row, column in ((1, 0), (0, 3), (3, 2)):
        assert is_white(cell_colour(plot, row, column, "change")), (row, column)
    head_box, change_box = details["matrix_boxes"]["head"], details["matrix_boxes"]["change"]
    assert head_box[2] < change_box[0], "the panels are side by side"


def test_change_view_title_names_the_base_and_both_accuracies(tmp_path):
    plot = confusion_matrix(*HEAD, str(tmp_path / "cm.svg"), base=BASE, base_label="origin/main")
    drawn = [text for text, _ in svg_texts(plot.path)]
    assert "Change vs origin/main: accuracy 0.920 → 0.840" in drawn
    assert "recall fell most for a (0.833 → 0.667)" in drawn
    assert "head − origin/main" in drawn and "counts" in drawn
    assert "+2" in drawn and "−3" in drawn


def test_different_sample_counts_compare_fractions_of_each_actual_class(tmp_path):
    base = (BASE[0] * 2, BASE[1] * 2)  # the same rates on twice the samples: nothing changed but the count
    plot = confusion_matrix(*BASE, str(tmp_path / "cm.svg"), base=base)
    assert plot.details["change_normalize"] == "true"
    assert np.abs(plot.details["change"]).max() < 1e-12
    assert plot.details["worse_cells"] == plot.details["better_cells"] == 0
    assert "row fractions: sample counts differ (50 → 25)" in [text for text, _ in svg_texts(plot.path)]
    grown = confusion_matrix(*HEAD, str(tmp_path / "grown.png"), base=(BASE[0][:-1], BASE[1][:-1]))
    change = grown.details["change"]
    assert grown.details["change_normalize"] == "true"
    assert change[0].tolist() == pytest.approx([8 / 12 - 10 / 12, 4 / 12 - 2 / 12, 0, 0])
    assert grown.details["change_annotations"][0] == ["−0.17", "+0.17", "", ""]


def test_normalised_change_view_uses_the_requested_fractions(tmp_path):
    plot = confusion_matrix(*HEAD, str(tmp_path / "cm.png"), base=BASE, normalize="pred")
    assert plot.details["change_normalize"] == "pred"
    assert plot.details["change"][0][0] == pytest.approx(8 / 8 - 10 / 10)
    assert plot.details["change"][0][1] == pytest.approx(4 / 16 - 2 / 12)


def test_both_sides_fold_the_same_classes_into_other():
    head = (["a"] * 5 + ["b"] * 3 + ["x", "y"], ["a"] * 5 + ["b"] * 3 + ["y", "x"])
    base = (["a"] * 4 + ["z"] * 6, ["a"] * 4 + ["z"] * 6)
    head_counts, base_counts = count_matrices(*head, base=base, max_classes=2)
    # Over both sides, a (9+4+4) and z (12) are the most frequent; b, x and y fold into "other".
    assert head_counts.labels == base_counts.labels == ["a", "z", "other (3 classes)"]
    assert head_counts.counts.tolist() == [[5, 0, 0], [0, 0, 0], [0, 0, 5]]
    assert base_counts.counts.tolist() == [[4, 0, 0], [0, 6, 0], [0, 0, 0]]
    assert (head_counts.classes, head_counts.folded, head_counts.correct, base_counts.correct) == (5, 3, 8, 10)


def test_large_change_views_stack_their_panels_and_stay_fast(tmp_path):
    rng = np.random.default_rng(3)
    actual = rng.integers(0, 1000, 200_000)
    head = np.where(rng.random(200_000) < 0.8, actual, rng.integers(0, 1000, 200_000))
    base = np.where(rng.random(200_000) < 0.75, actual, rng.integers(0, 1000, 200_000))
    names = np.array([f"class{i}" for i in range(1000)])
    actual_labels = names[actual].tolist()
    started = time.thread_time()
    plot = confusion_matrix(actual_labels, names[head].tolist(), str(tmp_path / "cm.png"),
                            base=(actual_labels, names[base].tolist()), base_label="origin/main")
    elapsed = time.thread_time() - started
    assert elapsed < 30, f"a 1,000-class change view took {elapsed:.1f} s"
    pixels = assert_image(plot.path, 1000, 1500)
    assert pixels.shape[1] <= 1300
    head_box, change_box = plot.details["matrix_boxes"]["head"], plot.details["matrix_boxes"]["change"]
    assert head_box[3] < change_box[1], "the panels are one above the other"
    assert plot.details["change_annotations"] is None
    assert plot.details["labels"][:3] == ["class0", "class1", "class2"] and plot.details["labels"][-1] == "class999"
    assert plot.details["worse_cells"] > 0 and plot.details["better_cells"] > 0
    assert plot.details["accuracy"] > plot.details["base_accuracy"]
    assert len(plot.details["worsened_classes"]) <= 5


# -- tables and the report API ---------------------------------------------------------------------------------


def test_confusion_from_table_compares_with_the_base_table(tmp_path):
    head = parse_table(b"actual,predicted\n1,1\n2,2\n10,2\n", "p.csv")
    base = parse_table(b"actual,predicted\n1,1\n2,2\n10,10\n", "p.csv", "p.csv (at origin/main)")
    plot = confusion_from_table(head, str(tmp_path / "cm.png"), base_table=base, base_label="origin/main")
    assert plot.details["labels"] == ["1", "2", "10"]
    assert plot.details["change"].tolist() == [[0, 0, 0], [0, 0, 0], [0, 1, -1]]
    assert plot.details["warnings"] == []
    alone = confusion_from_table(head, str(tmp_path / "alone.png"))
    assert "change" not in alone.details and alone.details["warnings"] == []


def test_a_base_table_of_another_layout_draws_the_head_alone_and_says_why(tmp_path):
    head = parse_table(b"truth,guess\na,a\nb,a\n", "p.csv")
    base = parse_table(b"label_x,label_y\na,a\n", "p.csv", "p.csv (at origin/main)")
    plot = confusion_from_table(head, str(tmp_path / "cm.png"), base_table=base, y_true="truth", y_pred="guess")
    assert "change" not in plot.details
    assert len(plot.details["warnings"]) == 1
    assert plot.details["warnings"][0].startswith("p.csv (at origin/main)")
    assert plot.details["warnings"][0].endswith("; drawing the head without comparison")


def test_report_draws_the_change_view(tmp_path):
    report = Report(tmp_path).confusion_matrix(*HEAD, title="Validation", base_true=BASE[0], base_pred=BASE[1],
                                               base_label="main")
    assert report.markdown(tmp_path) == "![Validation](validation.png)\n"
    single = Report(tmp_path / "single").confusion_matrix(*HEAD)
    wide = np.asarray(Image.open(tmp_path / "validation.png"))
    narrow = np.asarray(Image.open(tmp_path / "single" / "confusion_matrix.png"))
    assert wide.shape[1] > narrow.shape[1]
    assert single.markdown(tmp_path / "single") == "![Confusion matrix](confusion_matrix.png)\n"


def test_change_view_errors_name_the_parameter(tmp_path):
    with pytest.raises(UsageError) as error:
        Report(tmp_path).confusion_matrix(*HEAD, base_true=BASE[0])
    assert str(error.value) == "base_pred: give base_pred too (or neither)"
    with pytest.raises(UsageError) as error:
        Report(tmp_path).confusion_matrix(*HEAD, base_true=BASE[0], base_pred=BASE[1][:-1])
    assert str(error.value) == "base_true: has 25 actual labels but 24 predicted"
    with pytest.raises(UsageError) as error:
        confusion_matrix(*HEAD, str(tmp_path / "cm.png"), base=([], []))
    assert str(error.value) == "base: has no labels"
    with pytest.raises(UsageError) as error:
        confusion_matrix(*HEAD, str(tmp_path / "cm.png"), labels=["a", "b", "d"], base=BASE)
    assert str(error.value) == "base: label 'c' is not among the given labels"
    with pytest.raises(UsageError) as error:
        confusion_matrix(["a"], ["z"], str(tmp_path / "cm.png"), labels=["a"])
    assert str(error.value) == "labels: label 'z' is not among the given labels"
