"""Quality gates: ``--fail-on`` rules evaluated on a metrics diff.

A rule is ``PATTERN OP NUMBER`` or ``PATTERN OP NUMBER%``: the absolute change
(``accuracy<-0.01``) or the relative change (``loss>5%``) of every metric whose
name matches the glob ``PATTERN`` is compared with the threshold. A matched
metric that disappeared fails the rule, since it can no longer be checked.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Sequence

from cml.errors import UsageError
from cml.report.markdown import format_percent, format_signed
from cml.report.metrics import MetricsDiff, pattern_matches

_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_RULE = re.compile(
    r"^\s*(?P<pattern>[^<>=]*?)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<percent>%)?\s*$"
)


@dataclass(frozen=True)
class GateRule:
    """One parsed ``--fail-on`` rule."""

    text: str
    pattern: str
    op: str
    threshold: float
    relative: bool

    @classmethod
    def parse(cls, text: str, option: str = "--fail-on") -> "GateRule":
        match = _RULE.match(text)
        if not match or not match["pattern"]:
            raise UsageError(
                f"cannot read rule '{text}'; write METRIC<CHANGE or METRIC>PERCENT%, "
                f"for example 'accuracy<-0.01' or 'loss>5%'",
                option=option,
            )
        return cls(text, match["pattern"], match["op"], float(match["value"]), bool(match["percent"]))

    def violated_by(self, value: float) -> bool:
        compared = value * 100 if self.relative else value
        return _OPERATORS[self.op](compared, self.threshold)


def evaluate(rules: Sequence[GateRule], result: MetricsDiff, precision: int = 5) -> list[str]:
    """Lines naming each failed rule; empty when every rule passes.

    A rule that matches no metric at all raises :class:`UsageError`: a misspelt
    gate must not pass silently.
    """
    failures = []
    for rule in rules:
        matched = [d for d in result.deltas if pattern_matches(rule.pattern, d.path, d.name)]
        if not matched:
            names = ", ".join(dict.fromkeys(d.name for d in result.deltas)) or "none"
            if len(names) > 200:
                names = names[:200] + "…"
            raise UsageError(f"rule '{rule.text}' matches no metric; metrics are: {names}", option="--fail-on")
        for delta in matched:
            if delta.status == "removed":
                failures.append(f"{delta.path}:{delta.name} was removed (rule '{rule.text}')")
                continue
            value = delta.relative_change if rule.relative else delta.change
            if value is None or math.isnan(value):
                continue
            if rule.violated_by(value):
                shown = format_percent(value) if rule.relative else format_signed(value, precision)
                failures.append(f"{delta.path}:{delta.name} changed by {shown} (rule '{rule.text}')")
    return failures
