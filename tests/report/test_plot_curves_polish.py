"""ROC and precision-recall polish: macro averages that match scikit-learn, the PR chance line and end point,
legends past 15 classes, and the base branch's curves drawn dashed."""

import html

import numpy as np
import pytest
from PIL import Image

from cml.errors import CmlError, UsageError
from cml.report.data import table_from_records
from cml.report.plots import pr_curve, pr_curve_from_points, roc_curve, roc_curve_from_points
from cml.report.plots.curves import curve_from_table, macro_precision_recall, macro_roc, step_area


def svg_texts(path) -> str:
    with open(path, encoding="utf-8") as handle:
        return html.unescape(handle.read())


def multi_class_data(classes=("bird", "cat", "dog", "fish"), count=800, seed=11, signal=0.8, decimals=2):
    """Labels and softmax-like probabilities, rounded so that many scores tie (vertical steps in the curves)."""
    rng = np.random.default_rng(seed)
    labels = np.array(classes)
    truth = labels[rng.integers(0, len(labels), count)]
    raw = rng.random((count, len(labels))) + (truth[:, None] == labels) * signal
    probabilities = np.round(raw / raw.sum(axis=1, keepdims=True), decimals)
    probabilities[:, -1] = 1 - probabilities[:, :-1].sum(axis=1)  # rows sum to 1, as roc_auc_score's ovr needs
    return truth, probabilities, {label: probabilities[:, index] for index, label in enumerate(labels)}


def test_multi_class_auc_and_ap_match_scikit_learn_per_class_and_macro(tmp_path):
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth, probabilities, scores = multi_class_data()
    labels = list(scores)
    onehot = truth[:, None] == np.array(labels)
    roc = roc_curve(truth, scores, str(tmp_path / "roc.svg"))
    for index, label in enumerate(labels):
        assert roc.details["auc"][label] == pytest.approx(roc_auc_score(onehot[:, index], probabilities[:, index]))
    # The legend shows the mean of the classes' AUCs: scikit-learn's macro one-vs-rest AUC.
    expected_macro = roc_auc_score(truth, probabilities, labels=labels, multi_class="ovr", average="macro")
    assert roc.details["macro_auc"] == pytest.approx(expected_macro, abs=1e-12)
    pr = pr_curve(truth, scores, str(tmp_path / "pr.svg"))
    for index, label in enumerate(labels):
        assert pr.details["average_precision"][label] == pytest.approx(
            average_precision_score(onehot[:, index], probabilities[:, index]))
    expected_ap = average_precision_score(onehot, probabilities, average="macro")
    assert pr.details["macro_average_precision"] == pytest.approx(expected_ap, abs=1e-12)
    roc_text, pr_text = svg_texts(tmp_path / "roc.svg"), svg_texts(tmp_path / "pr.svg")
    assert f">macro average (AUC = {expected_macro:.3f})<" in roc_text
    assert f">macro average (AP = {expected_ap:.3f})<" in pr_text
    for label in labels:
        assert f">{label} (AUC = {roc.details['auc'][label]:.3f})<" in roc_text
        assert f">{label} (AP = {pr.details['average_precision'][label]:.3f})<" in pr_text
    assert ">chance (AUC = 0.500)<" in roc_text


def test_the_macro_curves_drawn_have_the_macro_area_exactly():
    from sklearn.metrics import auc, precision_recall_curve, roc_curve as sk_roc_curve

    truth, _, scores = multi_class_data(decimals=1)
    rocs, prs, aucs, aps = [], [], [], []
    for label, values in scores.items():
        fpr, tpr, _ = sk_roc_curve(truth == label, values)
        rocs.append((fpr, tpr))
        aucs.append(auc(fpr, tpr))
        precision, recall, _ = precision_recall_curve(truth == label, values)
        prs.append((recall[::-1], precision[::-1]))
        aps.append(step_area(recall[::-1], precision[::-1]))
    x, y = macro_roc(rocs)
    assert np.all(np.diff(x) >= 0) and x[0] == 0 and x[-1] == 1 and y[-1] == 1
    assert auc(x, y) == pytest.approx(np.mean(aucs), abs=1e-12)
    assert y[0] == 0 and np.any((np.diff(x) == 0) & (np.diff(y) > 0))  # the vertical steps that ties make are kept
    recall, precision = macro_precision_recall(prs)
    assert recall[0] == 0 and precision[0] == 1 and recall[-1] == 1
    assert step_area(recall, precision) == pytest.approx(np.mean(aps), abs=1e-12)
    # It ends, like each class's curve, at the mean positive rate: every sample predicted positive.
    assert precision[-1] == pytest.approx(np.mean([np.mean(truth == label) for label in scores]))


def frame_of(pixels):
    """Rows and columns of the axes frame: the dark lines crossing most of the image."""
    dark = pixels.max(axis=2) < 80
    rows = np.flatnonzero(dark.sum(axis=1) > 0.5 * pixels.shape[1])
    columns = np.flatnonzero(dark.sum(axis=0) > 0.5 * pixels.shape[0])
    return rows.min(), rows.max(), columns.min(), columns.max()


def near(pixels, color, tolerance=40):
    return np.abs(pixels.astype(int) - np.array(color)).max(axis=2) <= tolerance


C0 = (31, 119, 180)  # matplotlib's first colour
CHANCE = (110, 110, 110)


def test_pr_chance_line_is_at_the_positive_rate_and_the_end_at_recall_1_is_inside_the_frame(tmp_path):
    rng = np.random.default_rng(5)
    truth = np.where(rng.random(1000) < 0.3, "dog", "cat")
    scores = rng.random(1000) * 0.5 + (truth == "dog") * 0.5 * rng.random(1000)
    plot = pr_curve(truth, scores, str(tmp_path / "pr.png"), pos_label="dog")
    rate = float(np.mean(truth == "dog"))
    assert plot.details["positive_rate"] == {"dog": rate} and plot.details["chance"] == rate
    pixels = np.asarray(Image.open(tmp_path / "pr.png").convert("RGB"))
    top, bottom, left, right = frame_of(pixels)
    low, high = -0.03, 1.03  # the axes run a little past the unit square

    def row_of(value):
        return round(bottom - (value - low) / (high - low) * (bottom - top))

    def column_of(value):
        return round(left + (value - low) / (high - low) * (right - left))

    # The dotted chance line runs across the plot at the positive rate.
    chance_row = row_of(rate)
    band = near(pixels[chance_row - 2:chance_row + 3, left + 5:right - 5], CHANCE, 30).any(axis=0)
    assert band.mean() > 0.2, band.mean()
    # The curve ends at (1, positive rate) with a dot inside the frame, not hidden under its right edge.
    end_row, end_column = row_of(rate), column_of(1.0)
    assert right - end_column >= 8
    blue = near(pixels, C0)
    assert blue[end_row - 2:end_row + 3, end_column - 2:end_column + 3].all()
    assert not blue[:, right:].any()
    # And starts at (0, 1), as scikit-learn's curves do.
    assert blue[row_of(1.0) - 1:row_of(1.0) + 2, column_of(0.0):column_of(0.0) + 3].any()


def test_past_15_classes_the_legend_names_the_macro_average_only(tmp_path):
    classes = [f"class{index}" for index in range(20)]
    truth, _, scores = multi_class_data(classes, count=3000, seed=3, signal=1.5, decimals=3)
    roc = roc_curve(truth, scores, str(tmp_path / "roc.svg"))
    pr = pr_curve(truth, scores, str(tmp_path / "pr.svg"))
    roc_text, pr_text = svg_texts(tmp_path / "roc.svg"), svg_texts(tmp_path / "pr.svg")
    assert f">macro average of 20 classes (AUC = {roc.details['macro_auc']:.3f})<" in roc_text
    assert f">macro average of 20 classes (AP = {pr.details['macro_average_precision']:.3f})<" in pr_text
    assert f">chance (mean positive rate {pr.details['chance']:.3f})<" in pr_text
    assert "class0 (" not in roc_text and "class0 (" not in pr_text
    assert len(roc.details["auc"]) == 20 and roc.details["classes"] == 20
    fifteen = roc_curve(truth[np.isin(truth, classes[:15])], {c: scores[c][np.isin(truth, classes[:15])]
                                                              for c in classes[:15]}, str(tmp_path / "15.svg"))
    drawn = svg_texts(tmp_path / "15.svg")
    assert all(f">{label} (AUC = {fifteen.details['auc'][label]:.3f})<" in drawn for label in classes[:15])
    assert f">macro average (AUC = {fifteen.details['macro_auc']:.3f})<" in drawn


def test_a_binary_base_is_drawn_dashed_in_the_curve_colour_with_both_areas(tmp_path):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(6)
    truth = np.where(rng.random(500) < 0.4, "dog", "cat")
    head = rng.random(500) * 0.6 + (truth == "dog") * 0.4
    base_truth = truth[:400]
    base = rng.random(400) * 0.8 + (base_truth == "dog") * 0.2
    roc = roc_curve(truth, head, str(tmp_path / "roc.svg"), pos_label="dog", base=(base_truth, base), base_label="main")
    head_auc, base_auc = roc_auc_score(truth == "dog", head), roc_auc_score(base_truth == "dog", base)
    assert roc.details["auc"] == {"dog": pytest.approx(head_auc)}
    assert roc.details["base_auc"] == {"dog": pytest.approx(base_auc)}
    assert roc.details["auc_change"]["dog"] == pytest.approx(head_auc - base_auc)
    assert roc.details["base_label"] == "main" and "base_skipped" not in roc.details
    drawn = svg_texts(tmp_path / "roc.svg")
    assert f">dog (AUC = {head_auc:.3f})<" in drawn and f">dog at main (AUC = {base_auc:.3f})<" in drawn
    assert "stroke-dasharray" in drawn and drawn.count("stroke: #1f77b4") >= 2
    pr = pr_curve(truth, head, str(tmp_path / "pr.png"), pos_label="dog", base=(base_truth, base))
    assert pr.details["base_average_precision"] == {
        "dog": pytest.approx(average_precision_score(base_truth == "dog", base))}

    with pytest.raises(UsageError) as error:
        roc_curve(truth, head, str(tmp_path / "x.png"), pos_label="dog", base=(["dog"] * 3, [0.1, 0.2, 0.3]))
    assert str(error.value) == "base: class 'dog' needs both positive and negative samples for a ROC curve"
    with pytest.raises(UsageError, match="^base: give the base as \\(y_true, scores\\)$"):
        roc_curve(truth, head, str(tmp_path / "x.png"), pos_label="dog", base=base)


def test_a_multi_class_base_compares_macro_curves_and_gives_each_class_change(tmp_path):
    from sklearn.metrics import roc_auc_score

    truth, probabilities, scores = multi_class_data(count=600, seed=1)
    base_truth, base_probabilities, base_scores = multi_class_data(count=500, seed=2, signal=0.4)
    plot = roc_curve(truth, scores, str(tmp_path / "roc.svg"), base=(base_truth, base_scores), base_label="main")
    expected_base = roc_auc_score(base_truth, base_probabilities, labels=list(base_scores), multi_class="ovr")
    assert plot.details["base_macro_auc"] == pytest.approx(expected_base)
    assert plot.details["macro_auc_change"] == pytest.approx(plot.details["macro_auc"] - expected_base)
    assert set(plot.details["auc_change"]) == set(scores)
    drawn = svg_texts(tmp_path / "roc.svg")
    assert f">macro average at main (AUC = {expected_base:.3f})<" in drawn
    for label in scores:
        assert (f">{label} (AUC = {plot.details['auc'][label]:.3f}, main {plot.details['base_auc'][label]:.3f})<"
                in drawn)
    pr = pr_curve(truth, scores, str(tmp_path / "pr.svg"), base=(base_truth, base_scores))
    assert pr.details["macro_average_precision_change"] == pytest.approx(
        pr.details["macro_average_precision"] - pr.details["base_macro_average_precision"])


def test_points_from_dvclive_match_scikit_learn_and_take_a_base(tmp_path):
    from sklearn.metrics import average_precision_score, precision_recall_curve

    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 400)
    scores = np.round(rng.random(400) * 0.7 + truth * 0.3, 1)  # ties: several points at one recall
    precision, recall, _ = precision_recall_curve(truth, scores)
    # dvclive writes zip(precision, recall, thresholds): scikit-learn's last point, (recall 0, precision 1), is cut.
    plot = pr_curve_from_points(precision[:-1], recall[:-1], str(tmp_path / "pr.png"),
                                base=(precision[:-1][::-1] * 0.9, recall[:-1][::-1]), base_label="main")
    assert plot.details["average_precision"]["model"] == pytest.approx(average_precision_score(truth, scores))
    assert plot.details["base_average_precision"]["model"] == pytest.approx(0.9 * average_precision_score(truth, scores))
    assert plot.details["chance"] is None  # computed points do not tell the positive rate
    roc = roc_curve_from_points([0, 0.1, 1], [0, 0.8, 1], str(tmp_path / "roc.svg"), base=([0, 0.5, 1], [0, 0.5, 1]))
    assert roc.details["auc"]["model"] == pytest.approx(0.85) and roc.details["base_auc"]["model"] == pytest.approx(0.5)
    assert ">model at base (AUC = 0.500)<" in svg_texts(tmp_path / "roc.svg")


def records_table(path, **columns):
    names = list(columns)
    return table_from_records([dict(zip(names, row)) for row in zip(*columns.values())], path)


def test_a_base_table_read_like_the_head_or_skipped_with_the_reason(tmp_path):
    rng = np.random.default_rng(2)
    truth = [str(value) for value in rng.integers(0, 2, 200)]
    score = [round(float(value), 3) for value in rng.random(200)]
    head = records_table("p.csv", actual=truth, score=score)
    base = records_table("p.csv (at main)", actual=truth[:150], score=score[:150])
    plot = curve_from_table("roc", head, str(tmp_path / "roc.png"), "ROC", base_table=base, base_label="main")
    assert set(plot.details["base_auc"]) == {"1"} and "base_skipped" not in plot.details
    renamed = records_table("p.csv (at main)", actual=truth, prob=score)
    plot = curve_from_table("pr", head, str(tmp_path / "pr.png"), "PR", y_score=["score"], base_table=renamed)
    assert plot.details["base_skipped"].startswith("p.csv (at main)") and "'score'" in plot.details["base_skipped"]
    assert "base_average_precision" not in plot.details and plot.details["average_precision"]
    points = records_table("roc.json (at main)", fpr=[0, 1], tpr=[0, 1])
    plot = curve_from_table("roc", head, str(tmp_path / "r.png"), "ROC", base_table=points)
    assert plot.details["base_skipped"].startswith("roc.json (at main): has none of the columns actual")


def test_report_methods_take_the_base_as_two_arguments(tmp_path):
    from cml import Report

    truth, _, scores = multi_class_data(count=300)
    base_truth, _, base_scores = multi_class_data(count=300, seed=9, signal=0.3)
    report = Report(tmp_path).roc(truth, scores, base_true=base_truth, base_scores=base_scores, base_label="main")
    report.precision_recall(truth, scores, base_true=base_truth, base_scores=base_scores)
    assert report.markdown(tmp_path) == "![ROC curve](roc_curve.png)\n\n![Precision-recall curve](precision_recall_curve.png)\n"
    assert (tmp_path / "roc_curve.png").stat().st_size > 0
    with pytest.raises(CmlError) as error:
        Report(tmp_path).roc(truth, scores, base_true=base_truth)
    assert str(error.value) == "base_scores: give base_true and base_scores together"
    with pytest.raises(CmlError) as error:
        Report(tmp_path).precision_recall(truth, scores, base_true=base_truth, base_scores={"cat": [0.5]})
    assert str(error.value).startswith("base_scores: 1 scores for class 'cat' but 300 labels")


def test_classes_that_differ_from_the_base_are_named_and_no_class_in_common_skips_it(tmp_path):
    truth, _, scores = multi_class_data(count=400)
    base_truth, _, base_scores = multi_class_data(("bird", "cat", "dog"), count=300, seed=3)
    plot = pr_curve(truth, scores, str(tmp_path / "pr.png"), base=(base_truth, base_scores))
    assert plot.details["classes_only_in_head"] == ["fish"] and plot.details["classes_only_in_base"] == []
    assert set(plot.details["average_precision_change"]) == {"bird", "cat", "dog"}
    other_truth, _, other_scores = multi_class_data(("cow", "emu"), count=100, seed=4)
    plot = roc_curve(truth, scores, str(tmp_path / "roc.png"), base=(other_truth, other_scores), base_label="main")
    assert plot.details["base_skipped"] == ("main has no curve for 'bird', 'cat', 'dog', 'fish'; it has 'cow', 'emu'")
    assert "base_auc" not in plot.details and "base_macro_auc" not in plot.details
