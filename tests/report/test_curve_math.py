"""ROC and precision-recall curves computed with numpy alone: the same points and areas as scikit-learn's."""

import math
import random

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from cml.errors import CmlError
from cml.report.plots.curves import label_codes, pr_class_curves, roc_class_curves, threshold_counts


def scores_with_ties(rng, count, ties):
    """Scores of ``count`` samples: continuous, rounded (``ties`` distinct values), or all equal (``ties`` 1)."""
    if ties is None:
        return rng.random(count)
    return np.floor(rng.random(count) * ties) / max(ties, 1)


def assert_same_as_scikit_learn(positive, scores, roc=None, pr=None):
    """``roc``/``pr`` (a ClassCurve) hold scikit-learn's points for ``positive`` samples scored ``scores``."""
    positive = np.asarray(positive, dtype=bool)
    if roc is not None:
        fpr, tpr, _ = roc_curve(positive, scores)
        assert roc.x.shape == fpr.shape and roc.y.shape == tpr.shape
        np.testing.assert_allclose(roc.x, fpr, rtol=0, atol=0)
        np.testing.assert_allclose(roc.y, tpr, rtol=0, atol=0)
        assert abs(roc.area - roc_auc_score(positive, scores)) <= 1e-12
        assert roc.positive_rate == positive.mean()
    if pr is not None:
        precision, recall, _ = precision_recall_curve(positive, scores)
        assert pr.x.shape == recall.shape and pr.y.shape == precision.shape
        np.testing.assert_allclose(pr.x, recall[::-1], rtol=0, atol=0)
        np.testing.assert_allclose(pr.y, precision[::-1], rtol=0, atol=0)
        assert abs(pr.area - average_precision_score(positive, scores)) <= 1e-12
        assert pr.positive_rate == positive.mean()


@pytest.mark.parametrize("ties", [None, 1000, 10, 3, 2, 1], ids=lambda ties: f"ties={ties}")
@pytest.mark.parametrize("count, rate", [(50, 0.5), (1000, 0.1), (2000, 0.9)])
def test_binary_curves_match_scikit_learn(count, rate, ties):
    rng = np.random.default_rng(count + (ties or 0))
    truth = (rng.random(count) < rate).astype(int)
    scores = scores_with_ties(rng, count, ties) * 0.8 + truth * 0.2
    if ties == 1:
        scores = np.full(count, 0.25)
    [roc] = roc_class_curves(truth, scores)
    [pr] = pr_class_curves(truth, scores)
    assert roc.label == pr.label == "1"
    assert_same_as_scikit_learn(truth == 1, scores, roc, pr)


def test_all_equal_scores_give_the_chance_diagonal_and_the_positive_rate():
    truth = [0, 1, 1, 0, 1]
    [roc] = roc_class_curves(truth, [0.3] * 5)
    [pr] = pr_class_curves(truth, [0.3] * 5)
    assert roc.x.tolist() == [0.0, 1.0] and roc.y.tolist() == [0.0, 1.0] and roc.area == 0.5
    assert pr.x.tolist() == [0.0, 1.0] and pr.y.tolist() == [1.0, 0.6] and pr.area == pytest.approx(0.6)
    assert_same_as_scikit_learn(np.array(truth) == 1, np.full(5, 0.3), roc, pr)


@pytest.mark.parametrize("where", [0, 17, 99], ids=["lowest", "middle", "highest"])
def test_a_single_positive_sample(where):
    rng = np.random.default_rng(where)
    scores = np.sort(rng.random(100))
    truth = np.zeros(100, dtype=int)
    truth[where] = 1
    [roc] = roc_class_curves(truth, scores)
    [pr] = pr_class_curves(truth, scores)
    assert_same_as_scikit_learn(truth == 1, scores, roc, pr)
    assert roc.area == pytest.approx(where / 99)


def test_a_single_negative_sample():
    rng = np.random.default_rng(3)
    truth = np.ones(60, dtype=int)
    truth[7] = 0
    scores = np.round(rng.random(60), 1)
    [roc] = roc_class_curves(truth, scores)
    [pr] = pr_class_curves(truth, scores)
    assert_same_as_scikit_learn(truth == 1, scores, roc, pr)


@pytest.mark.parametrize("kind", ["int", "bool", "str", "str-bool", "minus-one", "numpy-float", "named"])
def test_label_types_score_the_same_positive_class(kind):
    rng = np.random.default_rng(11)
    positive = rng.random(500) < 0.35
    scores = np.round(rng.random(500) * 0.6 + positive * 0.4, 2)
    truth, pos_label = {
        "int": (positive.astype(int).tolist(), None),
        "bool": (positive.tolist(), None),
        "str": (np.where(positive, "1", "0").tolist(), None),
        "str-bool": (np.where(positive, "TRUE", "false").tolist(), None),
        "minus-one": (np.where(positive, 1, -1), None),
        "numpy-float": (positive.astype(float), None),
        "named": (np.where(positive, "spam", "ham").tolist(), "spam"),
    }[kind]
    [roc] = roc_class_curves(truth, scores, pos_label)
    [pr] = pr_class_curves(truth, scores, pos_label)
    assert_same_as_scikit_learn(positive, scores, roc, pr)


@pytest.mark.parametrize("ties", [None, 5], ids=["distinct", "ties"])
def test_one_vs_rest_curves_match_scikit_learn_per_class(ties):
    rng = np.random.default_rng(5)
    classes = ["ant", "bee", "cat", "dog"]
    truth = rng.choice(classes, size=3000, p=[0.1, 0.2, 0.3, 0.4])
    scores = {label: scores_with_ties(rng, 3000, ties) * 0.7 + (truth == label) * 0.3 for label in classes}
    rocs = roc_class_curves(truth.tolist(), scores)
    prs = pr_class_curves(truth.tolist(), scores)
    assert [curve.label for curve in rocs] == [curve.label for curve in prs] == classes
    for label, roc, pr in zip(classes, rocs, prs):
        assert_same_as_scikit_learn(truth == label, scores[label], roc, pr)
    onehot = np.column_stack([truth == label for label in classes])
    stacked = np.column_stack([scores[label] for label in classes])
    assert abs(np.mean([c.area for c in rocs]) - roc_auc_score(onehot, stacked, average="macro")) <= 1e-12
    assert abs(np.mean([c.area for c in prs]) - average_precision_score(onehot, stacked, average="macro")) <= 1e-12


def test_integer_labels_match_score_columns_named_as_text():
    rng = np.random.default_rng(9)
    truth = rng.integers(0, 3, size=400)
    by_text = {str(label): rng.random(400) for label in range(3)}
    by_number = {int(label): values for label, values in by_text.items()}
    for labels in (truth, truth.tolist(), [str(value) for value in truth]):
        for scores in (by_text, by_number):
            curves = roc_class_curves(labels, scores)
            assert [curve.label for curve in curves] == ["0", "1", "2"]
            for curve in curves:
                assert_same_as_scikit_learn(truth == int(curve.label), by_text[curve.label], roc=curve)
    [one] = pr_class_curves(truth, by_number, pos_label="2")
    assert_same_as_scikit_learn(truth == 2, by_text["2"], pr=one)


def test_a_hundred_thousand_points():
    rng = np.random.default_rng(100_000)
    truth = rng.random(100_000) < 0.2
    scores = np.round(rng.random(100_000) * 0.9 + truth * 0.1, 3)  # many ties
    labels = np.where(truth, "1", "0").tolist()
    [roc] = roc_class_curves(labels, scores)
    [pr] = pr_class_curves(labels, scores)
    assert_same_as_scikit_learn(truth, scores, roc, pr)
    continuous = rng.random(100_000) + truth * 0.05
    [roc] = roc_class_curves(truth, continuous)
    [pr] = pr_class_curves(truth, continuous)
    assert_same_as_scikit_learn(truth, continuous, roc, pr)
    assert len(pr.x) == 100_001


def test_threshold_counts_do_not_depend_on_the_order_of_tied_samples():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, size=5000).astype(float)
    positive = rng.random(5000) < 0.5
    expected = threshold_counts(positive, scores)
    for _ in range(3):
        order = rng.permutation(5000)
        for got, want in zip(threshold_counts(positive[order], scores[order]), expected):
            np.testing.assert_array_equal(got, want)
    tps, fps = expected
    distinct = np.unique(scores)[::-1]
    np.testing.assert_array_equal(tps, [np.sum(positive & (scores >= t)) for t in distinct])
    np.testing.assert_array_equal(fps, [np.sum(~positive & (scores >= t)) for t in distinct])


def test_roc_and_pr_errors_are_unchanged():
    with pytest.raises(CmlError, match="^class '1' needs both positive and negative samples for a ROC curve$"):
        roc_class_curves([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(CmlError, match="^class '1' has no positive samples for a precision-recall curve$"):
        pr_class_curves([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(CmlError, match="^scores for class '1' contain NaN or infinite values$"):
        roc_class_curves([0, 1, 1], [0.1, math.nan, 0.3])
    with pytest.raises(CmlError, match="^2 scores but 3 labels$"):
        pr_class_curves([0, 1, 1], [0.1, 0.3])


def old_texts(y_true):
    """How the labels were compared before: each made text."""
    return [str(value) for value in y_true]


def random_floats(rng, count):
    magnitudes = [1e-300, 1e-20, 1e-5, 1e-4, 0.1, 1.0, 3.0, 1e15, 1e16, 1e17, 1e300]
    return [rng.choice([-1, 1]) * rng.random() * rng.choice(magnitudes) for _ in range(count)]


def label_cases():
    rng = random.Random(0)
    floats = random_floats(rng, 300) + [0.0, -0.0, 1.0, 1e16, 1e-5, 123456789.0, 0.1 + 0.2, math.inf, -math.inf]
    return {
        "str list": ["b", "a", "b", "", "é", "a b", "1", "1.0"],
        "str tuple": ("x", "y", "x"),
        "int list": [3, 1, 2, 1, -1, 0, 10**20 // 10**5],
        "huge int list": [10**30, 1, 10**30],
        "bool list": [True, False, True],
        "float list": floats,
        "float list with nan": [math.nan, 1.0, float("nan"), -0.0, 0.0],
        "mixed list": [1, "1", True, 1.0, "True", None, "a", 2.5, np.int64(1), np.float32(0.1), b"1"],
        "mixed numbers": [True, 2, 1, 0.0, False],
        "int array": np.array([5, 3, 5, -2]),
        "uint8 array": np.array([1, 0, 255], dtype=np.uint8),
        "int8 array": np.arange(-128, 128, dtype=np.int8)[::-1],
        "int64 extremes": np.array([-2**63, 2**63 - 1, 0, -2**63]),
        "uint64 array": np.array([2**64 - 1, 0, 2**64 - 1], dtype=np.uint64),
        "sparse ints": np.array([10**6, 0, 10**6, 7]),
        "class numbers": np.random.default_rng(2).integers(0, 300, 2000),
        "bool array": np.array([True, False, False]),
        "float array": np.array(floats),
        "float32 array": np.array([0.1, -0.0, 0.0, 1.0, np.nan, 3.4e38], dtype=np.float32),
        "float16 array": np.array([0.1, -0.0, 0.0, 1.0, np.nan], dtype=np.float16),
        "big-endian floats": np.array([0.5, -0.0, 0.0, 0.5], dtype=">f8"),
        "nan payloads": np.array([math.nan, -math.nan, np.frombuffer(b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]]),
        "str array": np.array(["dog", "cat", "dog"]),
        "bytes array": np.array([b"a", b"b", b"a"]),
        "object array": np.array([1, "1", 1.0, None], dtype=object),
        "strided array": np.arange(20)[::3],
        "complex array": np.array([1 + 2j, -0.0 + 0j, 1 + 2j]),
        "datetime array": np.array(["2024-01-01", "2024-01-02", "2024-01-01"], dtype="datetime64[D]"),
        "empty list": [],
        "empty array": np.array([]),
        "range": range(4),
    }


@pytest.mark.parametrize("name", list(label_cases()))
def test_label_codes_compare_labels_as_their_text(name):
    y_true = label_cases()[name]
    labels, codes = label_codes(y_true)
    texts = old_texts(y_true)
    assert len(set(labels)) == len(labels), "each text is one label"
    assert set(labels) == set(texts)
    assert codes.shape == (len(texts),)
    assert [labels[code] for code in codes] == texts


def test_labels_from_a_file_and_from_python_are_the_same_classes():
    assert label_codes(["1", "0", "1"])[0] == ["1", "0"]
    labels, codes = label_codes([1, "1", 1.0, True])
    assert sorted(labels) == ["1", "1.0", "True"]
    assert codes[0] == codes[1] != codes[2]
