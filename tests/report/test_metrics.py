"""Metric directions, change arithmetic, number formatting and quality-gate rules."""

import math

import pytest

from cml.errors import UsageError
from cml.report.gates import GateRule, evaluate
from cml.report.markdown import format_number, format_percent, image_markdown
from cml.report.metrics import ABSENT, DirectionRules, MetricDelta, diff_values


@pytest.mark.parametrize(
    "name, direction",
    [
        ("loss", "lower"), ("val_loss", "lower"), ("valLoss", "lower"), ("train/mse", "lower"),
        ("mean_absolute_error", "lower"), ("rmse", "lower"), ("accuracy", "higher"), ("eval.acc", "higher"),
        ("roc_auc", "higher"), ("f1_score", "higher"), ("r2", "higher"), ("precision", "higher"),
        ("epochs", None), ("lossless_ratio", None), ("error_accuracy", "higher"),
    ],
)
def test_default_directions(name, direction):
    assert DirectionRules().direction("m.json", name) == direction


def test_user_patterns_win_and_match_leaf_full_name_or_path():
    rules = DirectionRules(higher=("*loss",), lower=("m.json:speed", "eval.*"))
    assert rules.direction("m.json", "train.loss") == "higher"
    assert rules.direction("m.json", "speed") == "lower"
    assert rules.direction("other.json", "speed") is None
    assert rules.direction("m.json", "eval.accuracy") == "lower"


@pytest.mark.parametrize(
    "base, head, direction, status, change, relative",
    [
        (0.5, 0.6, "higher", "better", 0.1, 0.2),
        (0.5, 0.6, "lower", "worse", 0.1, 0.2),
        (-2, -1, None, "changed", 1, 0.5),
        (0, 1, "higher", "better", 1, None),
        (0, 0, "higher", "unchanged", 0, 0.0),
        (1, True, None, "changed", None, None),
        ("adam", "sgd", None, "changed", None, None),
        (ABSENT, 1, None, "added", None, None),
        (1, ABSENT, None, "removed", None, None),
        (float("nan"), float("nan"), None, "unchanged", None, None),
    ],
)
def test_delta_arithmetic(base, head, direction, status, change, relative):
    delta = MetricDelta("p", "m", base, head, direction)
    assert delta.status == status
    if change is None:
        assert delta.change is None or math.isnan(delta.change)
    else:
        assert delta.change == pytest.approx(change)
    if relative is None:
        assert delta.relative_change is None or math.isnan(delta.relative_change)
    else:
        assert delta.relative_change == pytest.approx(relative)


@pytest.mark.parametrize(
    "value, precision, text",
    [(0.123456789, 5, "0.12346"), (2.0, 5, "2"), (1e-9, 5, "1e-09"), (-0.0, 3, "0"), (12, 2, "12"),
     (True, 5, "true"), (None, 5, "—"), (float("inf"), 5, "inf"), (float("nan"), 5, "nan"), ("text", 5, "text"),
     (1234567.891, 1, "1234567.9")],
)
def test_format_number(value, precision, text):
    assert format_number(value, precision) == text


def test_format_percent_and_image_markdown():
    assert format_percent(0.0123) == "+1.23%"
    assert format_percent(None) == "—"
    assert image_markdown("a [b]", "dir name/x (1).png") == "![a \\[b\\]](<dir name/x (1).png>)"
    assert image_markdown("t", "plots/x.png") == "![t](plots/x.png)"


@pytest.mark.parametrize(
    "text, pattern, op, threshold, relative",
    [("accuracy<-0.01", "accuracy", "<", -0.01, False), ("loss > 5%", "loss", ">", 5.0, True),
     ("change(eval.*)<=0", "eval.*", "<=", 0.0, False), ("change(m.json:f1)>=1e-3", "m.json:f1", ">=", 0.001, False),
     ("auc<-.5%", "auc", "<", -0.5, True)],
)
def test_gate_rules_parse(text, pattern, op, threshold, relative):
    rule = GateRule.parse(text)
    assert (rule.pattern, rule.op, rule.threshold, rule.relative) == (pattern, op, threshold, relative)


def test_gate_evaluation():
    result = diff_values({"accuracy": 0.9, "loss": 1.0, "gone": 1}, {"accuracy": 0.85, "loss": 1.04})
    rules = [GateRule.parse(r) for r in ("accuracy<-0.01", "loss>5%", "loss>3%", "change(gone)>0")]
    assert evaluate(rules, result) == [
        "accuracy changed by -0.05 (rule 'accuracy<-0.01')",
        "loss changed by +4.00% (rule 'loss>3%')",
        "gone was removed (rule 'change(gone)>0')",
    ]
    with pytest.raises(UsageError, match=r"rule 'change\(nope\)<0' matches no metric; metrics are: accuracy, loss, gone"):
        evaluate([GateRule.parse("change(nope)<0")], result)
