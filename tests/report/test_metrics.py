"""Metric directions, change arithmetic, number formatting and quality-gate rules."""

import fnmatch
import itertools
import json
import math
import random
import re

import pytest

from cml.errors import UsageError
from cml.report.gates import GateRule, evaluate
from cml.report.markdown import format_number, format_percent, image_markdown
from cml.report.metrics import (
    ABSENT,
    DirectionRules,
    MetricDelta,
    compare,
    diff_revisions,
    diff_values,
    pattern_matches,
    patterns_matcher,
    render_diff,
)


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


def _same(first, second) -> bool:
    """Equal, NaN equal to NaN, and 0.0 told from -0.0."""
    if isinstance(first, float) and isinstance(second, float):
        return repr(first) == repr(second)
    return type(first) is type(second) and first == second


# floats a diff meets: signed zeros, NaN, infinities, subnormals, huge, tiny, and neighbours whose decimal forms are
# closer than the floats (where the exact change of the written numbers matters)
_SPECIAL_FLOATS = [0.0, -0.0, math.nan, math.inf, -math.inf, 5e-324, -5e-324, 1e-320, 2.2250738585072014e-308, 1e-300,
                   1e300, -1.7976931348623157e308, 1.7976931348623157e308, 0.5, 0.55, 0.1, 0.2, 0.30000000000000004,
                   0.3, 1.0, -1.0, 4.999999e-06, 5e-06, 1e-09, 123456789.12345679, 1 / 3, 2 / 3, 9007199254740993.0]


def test_compare_settles_each_float_pair_exactly_as_the_properties_compute_it():
    rng = random.Random(7)
    floats = _SPECIAL_FLOATS + [rng.uniform(-1, 1) * 10 ** rng.randint(-12, 12) for _ in range(150)]
    floats += [math.nextafter(x, math.inf) for x in floats[:60] if math.isfinite(x)]
    pairs = list(itertools.product(floats[:60], floats[:60])) + list(zip(floats, reversed(floats)))
    pairs += [(x, x) for x in floats] + [(1, 2.5), (2.5, 1), (3, 3), (True, 1.0), ("a", 1.0), (None, 0.5)]
    names = [f"m{index}" for index in range(len(pairs))]
    for direction_rules, direction in ((DirectionRules(higher=("*",)), "higher"),
                                       (DirectionRules(lower=("*",)), "lower"), (None, None)):
        deltas = compare(["p"], {"p": dict(zip(names, (b for b, _ in pairs)))},
                         {"p": dict(zip(names, (h for _, h in pairs)))}, direction_rules)
        assert [d.name for d in deltas] == names
        for delta, (base, head) in zip(deltas, pairs):
            expected = MetricDelta("p", delta.name, base, head, direction)  # every value computed on first use
            assert delta == expected
            for attribute in ("status", "numeric", "unchanged", "change", "relative_change"):
                assert _same(getattr(delta, attribute), getattr(expected, attribute)), (base, head, attribute)


def test_compare_keeps_absent_sides_and_the_order_of_head_then_base_keys():
    deltas = compare(["a", "b"], {"a": {"x": 1.0, "gone": 2.0}, "b": {"y": 0.25}},
                     {"a": {"new": 3.0, "x": 1.5}}, DirectionRules())
    assert [(d.path, d.name, d.status) for d in deltas] == [
        ("a", "new", "added"), ("a", "x", "changed"), ("a", "gone", "removed"), ("b", "y", "removed")]
    assert deltas[1].change == 0.5 and deltas[1].relative_change == 0.5
    assert deltas[0].base is ABSENT and deltas[0].change is None


def _reference_match(pattern: str, path: str, name: str) -> bool:
    """pattern_matches as first written: fnmatch of the lower-cased pattern on the lower-cased name, its last part
    (after the last "." or "/") and path:name."""
    leaf = re.split(r"[./]", name)[-1]
    candidates = (name.lower(), leaf.lower(), f"{path}:{name}".lower())
    return any(fnmatch.fnmatchcase(candidate, pattern.lower()) for candidate in candidates)


_PATTERNS = ["loss", "*loss", "eval.*", "m.json:*", "M.JSON:SPEED", "[!a]*", "?", "a[.]b", "(x)", "x+y", "*acc*",
             "train/*", "*_[0-9]", "", "\\d", "Σ", "σ", "ς", "i̇*", "*.Σ"]
_NAMES = ["loss", "val_loss", "train.loss", "eval.accuracy", "speed", "x", "a.b", "ab", "(x)", "x+y", "train/mse",
          "acc_1", "b", "Α.Σ", "ΑΣ", "İx", "\\d", "a.b/c.D", "", "."]


@pytest.mark.parametrize("pattern", _PATTERNS)
def test_pattern_matching_is_fnmatch_on_the_name_its_last_part_or_path_and_name(pattern):
    for path, name in itertools.product(("m.json", "sub/n.json"), _NAMES):
        assert pattern_matches(pattern, path, name) == _reference_match(pattern, path, name), (pattern, path, name)


def test_several_patterns_match_together_what_each_matches_alone():
    for count in (1, 2, 3, 5):
        for start in range(0, len(_PATTERNS), count):
            patterns = _PATTERNS[start:start + count]
            matches = patterns_matcher(patterns)
            for path, name in itertools.product(("m.json", "eval"), _NAMES):
                assert matches(path, name) == any(_reference_match(p, path, name) for p in patterns), (patterns, name)
    assert patterns_matcher(())("m.json", "loss") is False


def test_user_patterns_are_read_in_order_lower_first_then_the_defaults():
    rules = DirectionRules(higher=("*loss", "speed"), lower=("*loss", "eval.*"), use_defaults=False)
    assert [rules.direction("m.json", name) for name in ("val_loss", "speed", "eval.speed", "accuracy")] == [
        "lower", "higher", "lower", None]
    listed = DirectionRules(higher=["speed"])  # a list, as a caller may pass, works as a tuple
    assert listed.direction("m.json", "train.speed") == "higher"
    assert listed.direction("m.json", "train.loss") == "lower"


def test_a_file_only_the_base_dvc_yaml_names_is_read_with_the_others(repo):
    repo.write("dvc.yaml", "metrics:\n  - old.json\n  - kept.json\n")
    repo.write("old.json", '{"loss": 0.5}')
    repo.write("kept.json", '{"acc": 0.5, "n": 1}')
    repo.commit()
    (repo.path / "old.json").unlink()
    repo.write("dvc.yaml", "metrics:\n  - kept.json\n  - new.json\n")
    repo.write("kept.json", '{"acc": 0.75, "n": 1}')
    repo.write("new.json", '{"f1": 0.5}')
    result = diff_revisions("HEAD")
    assert [(d.path, d.name, d.status) for d in result.deltas] == [
        ("kept.json", "acc", "better"), ("kept.json", "n", "unchanged"), ("new.json", "f1", "added"),
        ("old.json", "loss", "removed")]
    assert json.loads(render_diff(result, "json"))["kept.json"]["acc"] == {
        "old": 0.5, "new": 0.75, "diff": 0.25, "relative": 0.5, "status": "better", "direction": "higher"}


def test_a_large_diff_renders_every_changed_row_in_key_order():
    base = {f"group{g}": {f"accuracy_{m}": 0.5 + (g * m % 7) / 100 for m in range(100)} for g in range(10)}
    head = {group: {name: value + 0.01 for name, value in values.items()} for group, values in base.items()}
    head["group0"]["accuracy_0"] = base["group0"]["accuracy_0"]
    text = render_diff(diff_values(base, head, "m.json", "HEAD", "workspace"), "md")
    lines = text.splitlines()
    assert len(lines) == 2 + 999
    assert lines[0] == "| Path   | Metric             |   HEAD |   workspace |   Change |   Change % | Status    |"
    assert lines[2] == "| m.json | group0.accuracy_1  |    0.5 |        0.51 |    +0.01 |     +2.00% | ✅ better |"
    assert lines[-1] == "| m.json | group9.accuracy_99 |   0.52 |        0.53 |    +0.01 |     +1.92% | ✅ better |"
