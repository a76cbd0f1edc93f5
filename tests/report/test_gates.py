"""Quality-gate rules: explicit value/change forms, refused ambiguous rules, and verdicts that never pass silently."""

import math

import pytest

from cml.errors import UsageError
from cml.report.gates import FAILED, NOT_CHECKED, PASSED, GateRule, check, evaluate
from cml.report.metrics import MetricsDiff, compare, diff_values
from tests.cli.test_table import rendered


def verdicts(rules, base, head):
    results = check([GateRule.parse(rule) for rule in rules], diff_values(base, head))
    return [(result.verdict, [c.reason for c in result.checks]) for result in results]


@pytest.mark.parametrize(
    "text, kind, pattern, op, threshold, relative, explicit",
    [("value(accuracy)<0.97", "value", "accuracy", "<", 0.97, False, "value(accuracy)<0.97"),
     ("value( eval.* ) >= -1e-3", "value", "eval.*", ">=", -0.001, False, "value(eval.*)>=-1e-3"),
     ("change(accuracy)<0.97", "change", "accuracy", "<", 0.97, False, "change(accuracy)<0.97"),
     ("CHANGE(loss)>-5%", "change", "loss", ">", -5.0, True, "change(loss)>-5%"),
     ("loss>5%", "change", "loss", ">", 5.0, True, "change(loss)>5%"),
     ("accuracy<-0.01", "change", "accuracy", "<", -0.01, False, "change(accuracy)<-0.01"),
     ("accuracy <= -1", "change", "accuracy", "<=", -1.0, False, "change(accuracy)<=-1")],
)
def test_explicit_and_unambiguous_short_rules_parse(text, kind, pattern, op, threshold, relative, explicit):
    rule = GateRule.parse(text)
    assert (rule.kind, rule.pattern, rule.op, rule.threshold, rule.relative) == (kind, pattern, op, threshold, relative)
    assert rule.explicit == explicit


@pytest.mark.parametrize("text, pattern, op, number", [
    ("accuracy<0.97", "accuracy", "<", "0.97"), ("loss>0.1", "loss", ">", "0.1"), ("loss>-0.1", "loss", ">", "-0.1"),
    ("x<0", "x", "<", "0"), ("x>=-2", "x", ">=", "-2"),
])
def test_a_short_rule_that_could_mean_value_or_change_is_refused_with_both_spellings(text, pattern, op, number):
    with pytest.raises(UsageError) as error:
        GateRule.parse(text)
    assert error.value.parameter == "fail_on"
    assert str(error.value.naming("--fail-on")) == (  # as the command line names it
        f"--fail-on: rule '{text}' could mean the value or the change; write value({pattern}){op}{number} for the "
        f"value, or change({pattern}){op}{number} for the change"
    )


def test_a_value_rule_with_a_percentage_is_refused():
    with pytest.raises(UsageError, match=r"^fail_on: rule 'value\(x\)>5%' compares a value with a percentage.*"
                                         r"write change\(x\)>5%"):
        GateRule.parse("value(x)>5%", "fail_on")


def test_value_rules_compare_the_head_value_even_for_a_new_metric():
    assert verdicts(["value(accuracy)<0.97", "value(new)>=1"], {"accuracy": 0.99}, {"accuracy": 0.95, "new": 2}) == [
        (FAILED, ["is 0.95"]), (FAILED, ["is 2"]),
    ]
    assert verdicts(["value(accuracy)<0.9"], {"accuracy": 0.5}, {"accuracy": 0.95}) == [(PASSED, ["is 0.95"])]


@pytest.mark.parametrize("rule", ["change(acc)<-0.01", "acc<-0.01", "value(acc)<0.5", "acc>5%"])
def test_a_head_that_is_nan_or_not_a_number_fails_every_rule(rule):
    assert verdicts([rule], {"acc": 0.9}, {"acc": "high"}) == [(FAILED, ["is not a number ('high')"])]
    assert verdicts([rule], {"acc": 0.9}, {"acc": math.nan}) == [(FAILED, ["is NaN"])]
    assert verdicts([rule], {"acc": 0.9}, {"acc": None}) == [(FAILED, ["is not a number (null)"])]


def test_a_base_that_is_nan_or_not_a_number_fails_a_change_rule_it_cannot_check():
    result = diff_values({"loss": math.nan, "acc": "n/a"}, {"loss": 0.5, "acc": 0.9}, "m.json", "origin/main")
    lines = evaluate([GateRule.parse("loss>5%"), GateRule.parse("change(acc)<-0.1")], result)
    assert lines == [
        "m.json:loss is NaN at origin/main, so its change cannot be computed (rule 'loss>5%')",
        "m.json:acc is not a number ('n/a') at origin/main, so its change cannot be computed (rule 'change(acc)<-0.1')",
    ]
    assert evaluate([GateRule.parse("value(loss)>1")], result) == [], "a value rule needs no base"


def test_a_metric_new_in_head_is_not_checked_by_a_change_rule_and_does_not_fail():
    results = check([GateRule.parse("change(*)<-0.5"), GateRule.parse("new>5%")],
                    diff_values({"old": 1.0}, {"old": 1.0, "new": 3.0}))
    assert [r.verdict for r in results] == [PASSED, NOT_CHECKED]
    assert [r.failures() for r in results] == [[], []]
    assert results[0].markdown() == "- ✅ `change(*)<-0.5`: passed (old 0); new not checked: no base value"
    assert results[1].markdown() == "- ⚠️ `change(new)>5%`: new not checked: no base value"


def test_a_removed_metric_fails_value_and_change_rules():
    assert verdicts(["value(gone)>1", "change(gone)<-1"], {"gone": 1}, {}) == [
        (FAILED, ["was removed"]), (FAILED, ["was removed"]),
    ]


def test_a_change_exactly_at_the_threshold_is_not_broken_by_float_noise():
    assert verdicts(["accuracy<-0.01", "change(loss)>0.05"], {"accuracy": 0.9, "loss": 0.5},
                    {"accuracy": 0.89, "loss": 0.55}) == [(PASSED, ["changed by -0.01"]), (PASSED, ["changed by +0.05"])]


def test_a_relative_rule_on_a_base_of_zero_sees_an_infinite_change():
    assert verdicts(["errors>5%", "change(errors)<-5%"], {"errors": 0}, {"errors": 3}) == [
        (FAILED, ["changed by +inf%"]), (PASSED, ["changed by +inf%"]),
    ]


def test_gate_lines_show_names_as_text_and_the_rule_as_code():
    name = "<img src=x onerror=alert(1)>*_[a](b)`"
    result = check([GateRule.parse("value(*`)>0")], diff_values({name: 1, "other": 0}, {name: 2, "other": 0}))[0]
    assert result.markdown() == (
        "- ❌ ``value(*`)>0``: &lt;img src=x onerror=alert(1)&gt;\\*\\_\\[a\\](b)\\` is 2"
    )
    assert "<li>❌ <code>value(*`)&gt;0</code>: &lt;img src=x onerror=alert(1)&gt;*_[a](b)` is 2</li>" in rendered(
        result.markdown())
    assert result.text() == "FAILED      value(*`)>0: <img src=x onerror=alert(1)>*_[a](b)` is 2"
    assert result.to_json() == {
        "rule": "value(*`)>0", "explicit": "value(*`)>0", "verdict": "failed",
        "details": [{"path": "", "metric": name, "verdict": "failed", "detail": "is 2", "value": 2.0}],
    }


def test_a_rule_matches_names_case_insensitively_by_full_name_last_part_or_file():
    base = {"a.json": {"eval.ACC": 0.9, "train.acc": 0.8, "loss": 1.0}, "b.json": {"acc": 0.5, "eval.f1": 0.5}}
    head = {"a.json": {"eval.ACC": 0.8, "train.acc": 0.85, "loss": 1.0}, "b.json": {"acc": 0.5, "eval.f1": 0.4}}
    result = MetricsDiff(compare(["a.json", "b.json"], base, head), "HEAD", "workspace")
    rules = [GateRule.parse(text) for text in ("change(Acc)<-0.05", "change(B.JSON:*)<-0.05", "change(eval.*)<-0.05")]
    matched = [[(c.label, c.verdict) for c in gate.checks] for gate in check(rules, result)]
    assert matched == [
        [("a.json:eval.ACC", FAILED), ("a.json:train.acc", PASSED), ("b.json:acc", PASSED)],
        [("b.json:acc", PASSED), ("b.json:eval.f1", FAILED)],
        [("a.json:eval.ACC", FAILED), ("b.json:eval.f1", FAILED)],
    ]
