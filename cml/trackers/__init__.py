"""Experiment trackers as report sources: MLflow runs, Sacred run folders and dvclive output folders.

Each source gives a :class:`RunData`: flat params, the last value of every metric, and
metric histories (read on demand: an MLflow run may have a thousand metrics, and only
the plotted ones are fetched). ``cml metrics``/``params``/``plot line`` and the
:class:`cml.Report` builder consume them the same way as metrics files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from collections.abc import Sequence

from cml.errors import CmlError


class TrackerError(CmlError):
    """A run, experiment or folder cannot be found or read, or the tracking server does not answer."""


@dataclass
class History:
    """One metric's values by step."""

    name: str
    steps: Sequence[float]
    values: Sequence[float]


@dataclass
class RunData:
    """One tracked run: ``label`` names it in tables (the Path column) and legends."""

    label: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    history_names: list[str]
    _load_history: Callable[[str], History] = field(repr=False)
    _histories: dict[str, History] = field(default_factory=dict, repr=False)

    def history(self, name: str) -> History:
        """The values of metric ``name`` at every step it was logged."""
        if name not in self._histories:
            self._histories[name] = self._load_history(name)
        return self._histories[name]


def coerce_param(value: Any) -> Any:
    """A parameter logged as text (MLflow stores every param as a string) as the number or boolean it spells."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return value
