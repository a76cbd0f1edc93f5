"""ROC and precision-recall inputs: the positive class of a binary problem, and which columns hold scores."""

import numpy as np
import pytest

from cml.errors import CmlError
from cml.report.data import table_from_records
from cml.report.plots.curves import positive_label, scores_from_table


@pytest.mark.parametrize("labels, positive", [
    (["0", "1"], "1"),
    (["1", "-1"], "1"),
    (["False", "TRUE"], "TRUE"),
    (["true", "false"], "true"),
    (["0.0", "1.0"], "1.0"),
    (["0"], "1"),
    (["-1"], "1"),
    (["1"], "1"),
])
def test_standard_binary_labels_need_no_pos_label(labels, positive):
    assert positive_label(labels) == positive


@pytest.mark.parametrize("labels, listed", [
    (["dog", "cat"], "'cat', 'dog'"),
    (["yes", "no"], "'no', 'yes'"),
    (["0", "2"], "'0', '2'"),
    (["1", "1.0"], "'1', '1.0'"),
    (["-1", "0"], "'-1', '0'"),
    (["cat"], "'cat'"),
])
def test_other_binary_labels_need_a_pos_label(labels, listed):
    with pytest.raises(CmlError) as error:
        positive_label(labels)
    assert str(error.value) == f"y_true takes values {listed}; pass pos_label with one of them"
    assert positive_label(labels, labels[0]) == labels[0]


def test_one_score_column_of_more_classes_needs_the_class_it_scores():
    assert positive_label(["a", "b", "c"], "b") == "b"
    with pytest.raises(CmlError, match="^3 classes need one score column per class .*or name the positive class "
                                       "with --pos-label$"):
        positive_label(["a", "b", "c"], parameter="--pos-label")


def test_a_pos_label_that_is_not_a_label_lists_the_labels():
    with pytest.raises(CmlError) as error:
        positive_label(["dog", "cat"], "bird", "--pos-label", "p.csv")
    assert str(error.value) == "--pos-label: 'bird' is not a label of y_true in p.csv; its labels are 'cat', 'dog'"


def cat_dog_data(count=400, seed=7):
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(count) < 0.4, "cat", "dog")
    scores = np.round(rng.random(count) * 0.7 + (truth == "cat") * 0.3, 4)
    return truth.tolist(), scores


def test_roc_and_pr_with_string_labels_score_the_class_named_by_pos_label(tmp_path):
    from sklearn.metrics import auc, average_precision_score, roc_auc_score, roc_curve as sk_roc_curve

    from cml import Report
    from cml.report.plots import pr_curve, roc_curve

    truth, scores = cat_dog_data()
    with pytest.raises(CmlError, match=r"^y_true takes values 'cat', 'dog'; pass pos_label with one of them$"):
        roc_curve(truth, scores, str(tmp_path / "never.svg"))
    roc = roc_curve(truth, scores, str(tmp_path / "roc.svg"), pos_label="cat")
    fpr, tpr, _ = sk_roc_curve(truth, scores, pos_label="cat")
    assert roc.details["auc"] == {"cat": pytest.approx(auc(fpr, tpr))}
    assert roc.details["auc"]["cat"] == pytest.approx(roc_auc_score(np.array(truth) == "cat", scores))
    assert roc.details["auc"]["cat"] > 0.6
    pr = pr_curve(truth, scores, str(tmp_path / "pr.svg"), pos_label="dog")
    assert pr.details["average_precision"] == {"dog": pytest.approx(average_precision_score(truth, scores, pos_label="dog"))}

    report = Report(tmp_path).roc(truth, scores, pos_label="cat", filename="api.svg")
    assert report.markdown(tmp_path) == "![ROC curve](api.svg)\n"
    with pytest.raises(CmlError, match="pass pos_label"):
        Report(tmp_path).precision_recall(truth, scores)


def test_pos_label_with_a_score_column_per_class_draws_that_class_alone(tmp_path):
    from cml.report.plots import roc_curve

    truth = ["a", "b", "c", "a", "b", "c"]
    scores = {label: [0.9 if t == label else 0.1 for t in truth] for label in "abc"}
    assert roc_curve(truth, scores, str(tmp_path / "b.svg"), pos_label="b").details["auc"] == {"b": 1.0}
    with pytest.raises(CmlError, match="'d' is not one of the classes with scores: 'a', 'b', 'c'"):
        roc_curve(truth, scores, str(tmp_path / "d.svg"), pos_label="d")


def table(**columns):
    names = list(columns)
    rows = zip(*columns.values())
    return table_from_records([dict(zip(names, row)) for row in rows], "p.csv")


LABELS = ["cat", "dog", "fish", "cat"]


def test_score_globs_match_columns_in_file_order():
    data = table(y_true=LABELS, prob_fish=[0.1] * 4, other=[1] * 4, prob_cat=[0.5] * 4, prob_dog=[0.4] * 4)
    truth, scores = scores_from_table(data, y_score=["prob_*"])
    assert truth == LABELS and list(scores) == ["fish", "cat", "dog"]
    assert scores["cat"].tolist() == [0.5] * 4
    _, scores = scores_from_table(data, y_score=["prob_[cd]*", "prob_fish=FISH", "prob_*"])
    assert list(scores) == ["cat", "dog", "FISH"]
    _, single = scores_from_table(data, y_score=["prob_c?t"])
    assert single.tolist() == [0.5] * 4
    with pytest.raises(CmlError) as error:
        scores_from_table(data, y_score=["score_*"])
    assert str(error.value.naming("--y-score")) == ("--y-score: 'score_*' matches no column of p.csv; its columns are: "
                                "y_true, prob_fish, other, prob_cat, prob_dog")
    with pytest.raises(CmlError, match="'prob_\\*=x' names one class but 'prob_\\*' matches 3 columns"):
        scores_from_table(data, y_score=["prob_*=x"])
    with pytest.raises(CmlError, match="columns 'prob_fish' and 'other' are both scores for class 'fish'"):
        scores_from_table(data, y_score=["prob_fish", "other=fish"])


def test_a_glob_never_matches_the_label_column():
    data = table(y_true=LABELS, cat=[0.5] * 4, dog=[0.4] * 4, fish=[0.1] * 4)
    _, scores = scores_from_table(data, y_score=["*"])
    assert list(scores) == ["cat", "dog", "fish"]


@pytest.mark.parametrize("columns, found", [
    ({"cat": [0.5] * 4, "dog": [0.4] * 4, "fish": [0.1] * 4}, ["cat", "dog", "fish"]),
    ({"prob_dog": [0.4] * 4, "prob_cat": [0.5] * 4, "proba_fish": [0.1] * 4}, ["dog", "cat", "fish"]),
    ({"prob_cat": [0.0] * 4, "cat": [0.5] * 4, "dog": [0.4] * 4, "score": [1] * 4, "fish": [0.1] * 4},
     ["cat", "dog", "fish"]),
])
def test_score_columns_named_after_the_classes_are_found_without_y_score(columns, found):
    truth, scores = scores_from_table(table(y_true=LABELS, predicted=LABELS, **columns))
    assert list(scores) == found and scores["cat"].tolist() == [0.5] * 4


def test_a_binary_score_column_still_wins_and_missing_scores_say_what_to_name():
    truth, scores = scores_from_table(table(actual=["0", "1"], score=[0.2, 0.7], prob_0=[0.8, 0.3], prob_1=[0.2, 0.7]))
    assert scores.tolist() == [0.2, 0.7]
    with pytest.raises(CmlError) as error:
        scores_from_table(table(actual=LABELS, cat=[0.5] * 4, dog=[0.4] * 4))
    assert str(error.value).startswith("p.csv: has none of the columns score, y_score, prob, probability, proba, "
                                       "prediction_score, nor a score column per class")
