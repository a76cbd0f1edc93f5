"""Confusion matrices at thousands of classes: counts identical to a naive reference for every kind of label,
a lone confusion among 3,000 classes still visible, and memory that does not grow with the classes squared."""

import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from cml.report.classification import (NUMPY_COUNTING_FROM, ClassificationReport, count_labels, label_texts,
                                       prepare_labels)
from cml.report.data import natural_sort_key
from cml.report.plots.confusion import (_Cells, _cell_grid, _pooled, confusion_matrix, count_matrices,
                                        count_matrix)
from tests.report.test_plot_confusion import is_orange, is_white


def reference_counts(y_true, y_pred, base=None, labels=None, max_classes=1000):
    """Counts the slow, obvious way: str() every label, nested lists, folding by frequency over both sides."""
    sides = [([str(v) for v in y_true], [str(v) for v in y_pred])]
    if base is not None:
        sides.append(([str(v) for v in base[0]], [str(v) for v in base[1]]))
    if labels is None:
        classes = sorted({label for side in sides for texts in side for label in texts}, key=natural_sort_key)
    else:
        classes = [str(label) for label in labels]
    position = {label: index for index, label in enumerate(classes)}
    size = len(classes)
    full = []
    for actual, predicted in sides:
        matrix = [[0] * size for _ in range(size)]
        for a, p in zip(actual, predicted):
            matrix[position[a]][position[p]] += 1
        full.append(matrix)
    correct = [sum(matrix[i][i] for i in range(size)) for matrix in full]
    folded = max(size - max_classes, 0)
    if not folded:
        return classes, full, size, 0, correct
    frequency = [sum(matrix[i][j] + matrix[j][i] for matrix in full for j in range(size)) for i in range(size)]
    kept = sorted(sorted(range(size), key=lambda i: (-frequency[i], i))[:max_classes])
    slot = {index: number for number, index in enumerate(kept)}
    shown = [classes[i] for i in kept] + [f"other ({folded:,} classes)"]
    matrices = []
    for matrix in full:
        small = [[0] * (max_classes + 1) for _ in range(max_classes + 1)]
        for i in range(size):
            for j in range(size):
                small[slot.get(i, max_classes)][slot.get(j, max_classes)] += matrix[i][j]
        matrices.append(small)
    return shown, matrices, size, folded, correct


def assert_same_as_reference(y_true, y_pred, base=None, labels=None, max_classes=1000):
    head, base_counts = count_matrices(y_true, y_pred, base, labels, max_classes)
    shown, matrices, classes, folded, correct = reference_counts(y_true, y_pred, base, labels, max_classes)
    assert head.labels == shown
    assert head.counts.dtype == np.int64 and head.counts.tolist() == matrices[0]
    assert (head.classes, head.folded, head.correct) == (classes, folded, correct[0])
    if base is None:
        assert base_counts is None
    else:
        assert base_counts.labels == shown and base_counts.counts.tolist() == matrices[1]
        assert (base_counts.classes, base_counts.folded, base_counts.correct) == (classes, folded, correct[1])
    if base is None:
        single = count_matrix(y_true, y_pred, labels, max_classes)
        assert single.labels == shown and single.counts.tolist() == matrices[0]


def noisy(rng: random.Random, actual: list, choices: list, error_rate: float = 0.3) -> list:
    return [rng.choice(choices) if rng.random() < error_rate else label for label in actual]


# -- counting ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_string_labels_count_like_the_reference_with_and_without_folding(seed):
    rng = random.Random(seed)
    names = [f"class{i}" for i in range(rng.randint(2, 60))] + ["img_9", "img_10", "Dog", "dog", "x" * 300]
    actual = [rng.choice(names) for _ in range(rng.randint(1, 3000))]
    predicted = noisy(rng, actual, names)
    for max_classes in (1000, 1, 7, len(set(actual) | set(predicted)) - 1):
        assert_same_as_reference(actual, predicted, max_classes=max(max_classes, 1))


@pytest.mark.parametrize("seed", range(3))
def test_integer_labels_from_lists_and_numpy_arrays_count_like_the_reference(seed):
    np_rng = np.random.default_rng(seed)
    actual = np_rng.integers(-5, 40, 2000)
    predicted = np.where(np_rng.random(2000) < 0.7, actual, np_rng.integers(-5, 40, 2000))
    for y_true, y_pred in ((actual, predicted), (actual.tolist(), predicted.tolist()),
                           (actual.astype(np.uint8), predicted.astype(np.int16)), (actual.tolist(), predicted)):
        assert_same_as_reference(y_true, y_pred)
        assert_same_as_reference(y_true, y_pred, max_classes=10)


def test_mixed_labels_compare_as_text_like_the_reference():
    rng = random.Random(7)
    # 1, "1" and np.int64(1) are one class; 1.0 and "1.0" another; True and "True" a third; floats as str() writes.
    values = [1, "1", np.int64(1), 1.0, "1.0", True, "True", False, 0, None, "None", 0.1 + 0.2, 1e16, float("nan"),
              np.float32(0.1), np.str_("cat"), "cat", "Cat", -2, 10, "10", "2"]
    actual = [rng.choice(values) for _ in range(3000)]
    predicted = noisy(rng, actual, values, 0.4)
    assert_same_as_reference(actual, predicted)
    assert_same_as_reference(actual, predicted, max_classes=5)
    assert_same_as_reference(np.array(actual, dtype=object), np.array(predicted, dtype=object), max_classes=3)
    assert count_matrix([1, 1.0, True], ["1", "1.0", "True"]).counts.trace() == 3


@pytest.mark.parametrize("seed", range(3))
def test_the_base_side_counts_like_the_reference_and_folds_alike(seed):
    rng = random.Random(seed)
    head_names = [f"h{i}" for i in range(30)] + [f"both{i}" for i in range(30)]
    base_names = [f"b{i}" for i in range(30)] + [f"both{i}" for i in range(30)]
    head_actual = [rng.choice(head_names) for _ in range(2500)]
    base_actual = [rng.choice(base_names) for _ in range(1500)]
    head = (head_actual, noisy(rng, head_actual, head_names))
    base = (base_actual, noisy(rng, base_actual, base_names + ["only-predicted-in-base"]))
    for max_classes in (1000, 50, 10, 1):
        assert_same_as_reference(*head, base=base, max_classes=max_classes)


def test_given_labels_order_the_classes_and_unknown_ones_are_named_as_before():
    rng = random.Random(3)
    labels = ["z", "a", "m", "b"]
    actual = [rng.choice(labels) for _ in range(500)]
    predicted = noisy(rng, actual, labels)
    assert_same_as_reference(actual, predicted, labels=labels)
    assert_same_as_reference(actual, predicted, base=(predicted, actual), labels=labels, max_classes=2)
    from cml.errors import UsageError

    with pytest.raises(UsageError, match="label 'q' is not among the given labels") as raised:
        count_matrices(["a", "b"], ["a", "q"], labels=["a", "b"])
    assert raised.value.parameter == "labels"
    with pytest.raises(UsageError, match="label 'r' is not among the given labels") as raised:
        count_matrices(["a"], ["a"], base=(["r", "s"], ["a", "a"]), labels=["a"])
    assert raised.value.parameter == "base"


def test_fifty_thousand_classes_fold_without_a_dense_matrix_of_them():
    rng = np.random.default_rng(1)
    actual = rng.integers(0, 50_000, 300_000)
    predicted = np.where(rng.random(300_000) < 0.8, actual, rng.integers(0, 50_000, 300_000))
    names = np.array([f"c{i}" for i in range(50_000)])
    y_true, y_pred = names[actual].tolist(), names[predicted].tolist()
    started = time.perf_counter()
    counts = count_matrix(y_true, y_pred, max_classes=1000)
    assert time.perf_counter() - started < 10
    assert counts.counts.shape == (1001, 1001) and int(counts.counts.sum()) == 300_000
    assert counts.correct == int((actual == predicted).sum())
    # Natural order of c0…c49999 is numeric; the 1,000 most frequent (ties: the earlier) stay, in that order.
    present = sorted(set(actual.tolist()) | set(predicted.tolist()))
    frequency = np.bincount(actual, minlength=50_000) + np.bincount(predicted, minlength=50_000)
    kept = sorted(sorted(present, key=lambda i: (-frequency[i], i))[:1000])
    assert counts.labels == [f"c{i}" for i in kept] + [f"other ({len(present) - 1000:,} classes)"]
    assert counts.classes == len(present)


# -- label text --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [
    ["a", "b", "a"],
    [1, 2, -3, 10 ** 30],
    [1.0, 0.1, 0.1 + 0.2, 1e16, 1e-7, float("nan"), float("inf"), -0.0],
    [True, False],
    [None, "None", 1, "1", 1.0, True],
    (1, "a"),
    np.array([1, -2, 3], dtype=np.int64),
    np.array([0, 255], dtype=np.uint8),
    np.array([True, False]),
    np.array(["a", "bé", ""]),
    np.array([1.0, 0.1, 1e16, np.nan]),
    np.array([0.1, 1.5], dtype=np.float32),
    np.array([1, "a", None, 2.5], dtype=object),
    [np.int64(3), np.float32(0.1), np.str_("x"), np.bool_(True)],
    [],
], ids=repr)
def test_label_texts_are_what_str_writes(values):
    assert label_texts(values) == [str(value) for value in values]
    assert all(type(text) is str for text in label_texts(values))


def test_text_labels_are_not_copied_label_by_label():
    labels = ["a", "b"] * 10
    assert label_texts(labels) is labels


@pytest.mark.parametrize("size", [10, NUMPY_COUNTING_FROM + 10])
def test_classification_counts_match_a_plain_count_at_every_size(size):
    rng = random.Random(size)
    names = [f"k{i}" for i in range(300)] + [7, 7.0, True]
    actual = [rng.choice(names) for _ in range(size)]
    predicted = noisy(rng, actual, names)
    texts_true, texts_pred, classes = prepare_labels(actual, predicted)
    assert texts_true == [str(v) for v in actual] and texts_pred == [str(v) for v in predicted]
    assert classes == sorted({*texts_true, *texts_pred}, key=natural_sort_key)
    support, predicted_counts, correct = count_labels(texts_true, texts_pred)
    plain = {}
    for t, p in zip(texts_true, texts_pred):
        plain.setdefault(("support", t), 0)
        plain[("support", t)] += 1
        plain.setdefault(("predicted", p), 0)
        plain[("predicted", p)] += 1
        if t == p:
            plain.setdefault(("correct", t), 0)
            plain[("correct", t)] += 1
    counted = {**{("support", k): v for k, v in support.items()},
               **{("predicted", k): v for k, v in predicted_counts.items()},
               **{("correct", k): v for k, v in correct.items()}}
    assert counted == plain
    report = ClassificationReport.from_labels(actual, predicted)
    accuracy = sum(t == p for t, p in zip(texts_true, texts_pred)) / size
    assert report.accuracy == accuracy and report.total == size
    assert [c.label for c in report.classes] == classes
    assert sum(c.support for c in report.classes) == size


# -- drawing -----------------------------------------------------------------------------------------------------


def test_pooled_cells_keep_the_most_telling_cell_of_each_pixel_like_the_dense_pooling():
    rng = np.random.default_rng(2)
    size, pixels = 3001, 705
    cells = rng.choice(size * size, 40_000, replace=False)
    rows, columns = np.divmod(cells, size)
    codes = rng.choice([2.0, 2.5, 3.0, 4.0, 4.7, 5.0], len(cells))
    dense = np.zeros((size, size))
    dense[rows, columns] = codes
    sparse = _Cells(rows, columns, np.ones(len(cells), dtype=np.int64), 0)
    assert np.array_equal(_cell_grid(sparse, size, codes, pixels), _pooled(dense, pixels))
    assert np.array_equal(_cell_grid(sparse, size, codes, size), dense)


def test_a_lone_confusion_among_3000_classes_is_visible(tmp_path):
    classes = 3000
    labels = [f"c{i}" for i in range(classes)]
    row, column = 1234, 2718
    actual = [label for label in labels for _ in range(5)] + [labels[row]]
    predicted = actual[:-1] + [labels[column]]
    plot = confusion_matrix(actual, predicted, str(tmp_path / "cm.png"), max_classes=classes)
    assert plot.details["folded"] == 0 and len(plot.details["labels"]) == classes
    pixels = np.asarray(Image.open(plot.path).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    left, top, right, bottom = plot.details["matrix_boxes"]["head"]

    def around(r: float, c: float, reach: int = 2):
        x = (left + (right - left) * (c + 0.5) / classes) * width
        y = (top + (bottom - top) * (r + 0.5) / classes) * height
        return pixels[int(y) - reach:int(y) + reach + 1, int(x) - reach:int(x) + reach + 1].reshape(-1, 3)

    assert any(is_orange(colour) for colour in around(row, column)), around(row, column)
    # Mirrored across the diagonal, and anywhere else off it, there is no confusion: white, not orange.
    assert all(is_white(colour) for colour in around(column, row))
    # The only orange in the whole matrix is that confusion's pixel or two.
    y0, x0 = int(top * height) + 2, int(left * width) + 2
    matrix = pixels[y0:int(bottom * height) - 2, x0:int(right * width) - 2]
    orange_y, orange_x = np.nonzero((matrix.min(axis=2) < 200) & (matrix[..., 0] - matrix[..., 2] > 80))
    assert 0 < len(orange_y) <= 16, len(orange_y)
    assert np.all(np.abs(y0 + orange_y - (top + (bottom - top) * (row + 0.5) / classes) * height) <= 3)
    assert np.all(np.abs(x0 + orange_x - (left + (right - left) * (column + 0.5) / classes) * width) <= 3)


PROBE = """
import os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen([sys.executable, "-m", "cml", *sys.argv[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
error = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
print(status, usage.ru_maxrss, time.perf_counter() - started)
sys.stderr.write(error.decode())
"""


def test_3000_classes_draw_in_memory_that_does_not_grow_with_the_classes_squared(tmp_path):
    rng = np.random.default_rng(4)
    samples, classes = 200_000, 3000
    actual = rng.integers(0, classes, samples)
    predicted = np.where(rng.random(samples) < 0.8, actual, rng.integers(0, classes, samples))
    path = tmp_path / "many.csv"
    path.write_text("actual,predicted\n" + "".join(f"class{a},class{p}\n" for a, p in zip(actual, predicted)))
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    peaks = {}
    for name, max_classes in (("few", 10), ("all", classes)):
        result = subprocess.run([sys.executable, "-c", PROBE, "plot", "confusion", str(path), "-o",
                                 str(tmp_path / f"{name}.png"), "--max-classes", str(max_classes)],
                                capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path)
        status, peak_kib, _seconds = result.stdout.split()
        assert status == "0", result.stderr
        peaks[name] = int(peak_kib) / 1024
    # Dense float matrices of 3,001² cells are 69 MiB each: drawing all classes costs about what drawing 11 does.
    assert peaks["all"] < peaks["few"] + 60, peaks
    assert peaks["all"] < 250, peaks
