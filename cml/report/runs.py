"""What a report needs of a tracked run, so that :mod:`cml.report` reads runs without importing the trackers.

:class:`cml.trackers.RunData` (MLflow, Sacred, dvclive) is one; so is any object with these members.
"""

from __future__ import annotations

from typing import Any, Protocol
from collections.abc import Mapping, Sequence


class MetricHistory(Protocol):
    """One metric's values by step."""

    @property
    def steps(self) -> Sequence[float]: ...

    @property
    def values(self) -> Sequence[float]: ...


class TrackedRun(Protocol):
    """A run: ``label`` names it in tables and legends; histories are read by name, on demand."""

    @property
    def label(self) -> str: ...

    @property
    def params(self) -> Mapping[str, Any]: ...

    @property
    def metrics(self) -> Mapping[str, Any]: ...

    @property
    def history_names(self) -> Sequence[str]: ...

    def history(self, name: str) -> MetricHistory:
        """The values of metric ``name`` at every step it was logged."""
        ...
