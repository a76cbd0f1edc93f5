"""Quality gates: rules evaluated on a metrics diff.

A rule names what it compares, so it cannot be misread:

* ``value(PATTERN) OP NUMBER``: the head value (``value(accuracy)<0.97`` fails
  when accuracy is below 0.97);
* ``change(PATTERN) OP NUMBER``: the absolute change (``change(accuracy)<-0.01``
  fails when accuracy drops by more than 0.01);
* ``change(PATTERN) OP NUMBER%``: the relative change (``change(loss)>5%`` fails
  when loss grows by more than 5%).

``PATTERN`` is a glob matched against every metric name. The short form
``PATTERN OP NUMBER`` is accepted only where it can mean nothing but a change: a
percentage (``loss>5%``) or ``<``/``<=`` a negative number (``accuracy<-0.01``).
Any other short rule (``accuracy<0.97``) is refused, since it could mean either.

A matched metric fails the rule when it was removed, is NaN or is not a number;
a change rule also fails when the base value is NaN or not a number, since the
rule cannot be checked. A metric new in the head has no base value: change rules
report it as not checked, without failing.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Literal, cast
from collections.abc import Sequence

from cml.errors import UsageError
from cml.report.data import is_number
from cml.report.markdown import escape_inline, format_number, format_percent, format_signed, inline_code
from cml.report.metrics import ABSENT, MetricDelta, MetricsDiff, patterns_matcher

#: What checking a metric (or a whole rule) against a rule found.
Verdict = Literal["passed", "failed", "not checked"]
#: What a rule compares: the head value, or the change from the base.
RuleKind = Literal["value", "change"]
Comparison = Literal["<", "<=", ">", ">="]
PASSED: Verdict = "passed"
FAILED: Verdict = "failed"
NOT_CHECKED: Verdict = "not checked"
_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RULE = re.compile(
    r"^\s*(?:(?P<kind>(?i:value|change))\s*\(\s*(?P<inner>[^<>=]*?)\s*\)|(?P<pattern>[^<>=]*?))"
    rf"\s*(?P<op><=|>=|<|>)\s*(?P<number>{_NUMBER})\s*(?P<percent>%)?\s*$"
)
_SHOWN_METRICS = 10
_SYMBOLS_MD: dict[Verdict, str] = {PASSED: "✅", FAILED: "❌", NOT_CHECKED: "⚠️"}
_SYMBOLS_TEXT: dict[Verdict, str] = {PASSED: "passed", FAILED: "FAILED", NOT_CHECKED: "not checked"}


@dataclass(frozen=True)
class GateRule:
    """One parsed quality-gate rule: ``kind`` is ``"value"`` or ``"change"``."""

    text: str
    pattern: str
    op: Comparison
    threshold: float
    relative: bool
    kind: RuleKind = "change"
    number: str = ""

    @classmethod
    def parse(cls, text: str, parameter: str = "fail_on") -> GateRule:
        """Parse ``text``; a malformed or ambiguous rule raises :class:`UsageError` (naming ``parameter``, the one
        the rule came from) saying how to write it."""
        match = _RULE.match(text)
        pattern = match and (match["inner"] if match["kind"] else match["pattern"])
        if not match or not pattern:
            raise UsageError(
                f"cannot read rule '{text}'; write value(METRIC)<NUMBER, change(METRIC)<NUMBER or "
                f"change(METRIC)>PERCENT%, for example 'value(accuracy)<0.9', 'change(accuracy)<-0.01' or 'loss>5%'",
                parameter=parameter,
            )
        op, number, relative = cast(Comparison, match["op"]), match["number"], bool(match["percent"])
        threshold = float(number)
        kind = cast(RuleKind, match["kind"].lower()) if match["kind"] else None
        if kind == "value" and relative:
            raise UsageError(
                f"rule '{text}' compares a value with a percentage, which only makes sense for a change; "
                f"write change({pattern}){op}{number}% for the relative change, or drop the %",
                parameter=parameter,
            )
        if kind is None:
            if not relative and not (op in ("<", "<=") and threshold < 0):
                raise UsageError(
                    f"rule '{text}' could mean the value or the change; write value({pattern}){op}{number} "
                    f"for the value, or change({pattern}){op}{number} for the change",
                    parameter=parameter,
                )
            kind = "change"
        return cls(text, pattern, op, threshold, relative, kind, number)

    @property
    def explicit(self) -> str:
        """The rule in its explicit form, e.g. ``change(loss)>5%`` for ``loss>5%``."""
        number = self.number or format_number(self.threshold, 15)
        return f"{self.kind}({self.pattern}){self.op}{number}{'%' if self.relative else ''}"

    def violated_by(self, value: float) -> bool:
        """Whether ``value`` (a head value, a change, or a relative change as a fraction) breaks the rule."""
        compared = value * 100 if self.relative else value
        return _OPERATORS[self.op](compared, self.threshold)


@dataclass(frozen=True)
class MetricCheck:
    """One metric checked against one rule: its verdict, a reason (``changed by +4.00%``) and the number
    compared (``None`` when there is none)."""

    path: str
    name: str
    label: str
    verdict: Verdict
    reason: str
    shown: str = ""
    value: Any = None


@dataclass(frozen=True)
class GateResult:
    """A rule and the check of every metric it matched."""

    rule: GateRule
    checks: tuple[MetricCheck, ...]

    @property
    def verdict(self) -> Verdict:
        """``failed`` when any metric failed, else ``passed`` when any passed, else ``not checked``."""
        verdicts = {check.verdict for check in self.checks}
        return FAILED if FAILED in verdicts else PASSED if PASSED in verdicts else NOT_CHECKED

    def failures(self) -> list[str]:
        """One line per failed metric, naming the metric (and its file), why and the rule."""
        return [f"{c.path + ':' if c.path else ''}{c.name} {c.reason} (rule '{self.rule.text}')"
                for c in self.checks if c.verdict == FAILED]

    def _summary(self, escape, passed: str) -> str:
        def listed(checks, describe):
            items = [describe(check) for check in checks[:_SHOWN_METRICS]]
            if len(checks) > _SHOWN_METRICS:
                items.append(f"and {len(checks) - _SHOWN_METRICS} more")
            return items

        by_verdict = {v: [c for c in self.checks if c.verdict == v] for v in (PASSED, FAILED, NOT_CHECKED)}
        if by_verdict[FAILED]:
            parts = listed(by_verdict[FAILED], lambda c: f"{escape(c.label)} {escape(c.reason)}")
        elif by_verdict[PASSED]:
            parts = [passed.format(", ".join(listed(by_verdict[PASSED], lambda c: f"{escape(c.label)} {c.shown}")))]
        else:
            parts = []
        if by_verdict[NOT_CHECKED]:
            names = ", ".join(listed(by_verdict[NOT_CHECKED], lambda c: escape(c.label)))
            parts.append(f"{names} not checked: no base value")
        return "; ".join(parts)

    def markdown(self) -> str:
        """A Markdown list item: ``- ✅ `change(loss)>5%`: passed (loss +1.00%)``; names are shown as text."""
        return f"- {_SYMBOLS_MD[self.verdict]} {inline_code(self.rule.explicit)}: {self._summary(escape_inline, 'passed ({})')}"

    def text(self) -> str:
        """The same line for a terminal."""
        return f"{_SYMBOLS_TEXT[self.verdict]:<11} {self.rule.explicit}: {self._summary(str, '{}')}"

    def to_json(self) -> dict:
        """The rule as written and in its explicit form, the verdict, and each metric's check."""
        details = [{"path": c.path, "metric": c.name, "verdict": c.verdict, "detail": c.reason, "value": c.value}
                   for c in self.checks]
        return {"rule": self.rule.text, "explicit": self.rule.explicit, "verdict": self.verdict, "details": details}


def _shown_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    if value is None:
        return "null"
    return format_number(value)


def _json_number(value: float) -> Any:
    return value if math.isfinite(value) else str(value)


def _unusable(value: Any) -> str | None:
    """Why ``value`` cannot be compared, or ``None`` when it can."""
    if not is_number(value):
        return f"is not a number ({_shown_value(value)})"
    if math.isnan(value):
        return "is NaN"
    return None


def _check_metric(rule: GateRule, delta: MetricDelta, label: str, base_label: str, precision: int) -> MetricCheck:
    def verdict(state: Verdict, reason: str, shown: str = "", value: Any = None) -> MetricCheck:
        return MetricCheck(delta.path, delta.name, label, state, reason, shown, value)

    if delta.head is ABSENT:
        return verdict(FAILED, "was removed")
    problem = _unusable(delta.head)
    if problem:
        return verdict(FAILED, problem)
    if rule.kind == "value":
        shown = format_number(delta.head, precision)
        return verdict(FAILED if rule.violated_by(delta.head) else PASSED, f"is {shown}", shown,
                       _json_number(float(delta.head)))
    if delta.base is ABSENT:
        return verdict(NOT_CHECKED, "not checked: no base value")
    problem = _unusable(delta.base)
    if problem:
        return verdict(FAILED, f"{problem} at {base_label}, so its change cannot be computed")
    change = delta.change
    assert change is not None, "both values are numbers here"
    if rule.relative:
        compared = delta.relative_change
        if compared is None:  # base 0: any change is infinitely large
            compared = math.copysign(math.inf, change)
        shown = format_percent(compared)
    else:
        compared = change
        shown = format_signed(change, precision)
    return verdict(FAILED if rule.violated_by(compared) else PASSED, f"changed by {shown}", shown,
                   _json_number(float(compared)))


def check(rules: Sequence[GateRule], result: MetricsDiff, precision: int = 5,
          parameter: str = "fail_on") -> list[GateResult]:
    """Check every metric each rule matches.

    A rule that matches no metric at all raises :class:`UsageError` (naming
    ``parameter``): a misspelt gate must not pass silently.
    """
    several_files = len({d.path for d in result.deltas}) > 1
    results = []
    for rule in rules:
        matches = patterns_matcher((rule.pattern,))
        matched = [d for d in result.deltas if matches(d.path, d.name)]
        if not matched:
            names = ", ".join(dict.fromkeys(d.name for d in result.deltas)) or "none"
            if len(names) > 200:
                names = names[:200] + "…"
            raise UsageError(f"rule '{rule.text}' matches no metric; metrics are: {names}", parameter=parameter)
        checks = tuple(
            _check_metric(rule, d, f"{d.path}:{d.name}" if several_files else d.name, result.base_label, precision)
            for d in matched
        )
        results.append(GateResult(rule, checks))
    return results


def failures(results: Sequence[GateResult]) -> list[str]:
    """The lines of every failed metric of every rule; empty when every rule passed."""
    return [line for result in results for line in result.failures()]


def evaluate(rules: Sequence[GateRule], result: MetricsDiff, precision: int = 5) -> list[str]:
    """Lines naming each failed rule and metric; empty when every rule passes (see :func:`check`)."""
    return failures(check(rules, result, precision))
