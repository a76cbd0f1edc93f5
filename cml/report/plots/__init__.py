"""Plots rendered with matplotlib (Agg, no display), imported only when a plot is drawn.

The names below load their module on first use, so a command that needs only :mod:`cml.report.plots.common`
(``metrics history`` for its image) does not import every kind of plot at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cml.report.plots.common import Plot, Series
    from cml.report.plots.confusion import confusion_matrix
    from cml.report.plots.curves import pr_curve, pr_curve_from_points, roc_curve, roc_curve_from_points
    from cml.report.plots.line import line_plot

_MODULE_OF = {"Plot": "common", "Series": "common", "confusion_matrix": "confusion", "line_plot": "line",
              "pr_curve": "curves", "pr_curve_from_points": "curves", "roc_curve": "curves",
              "roc_curve_from_points": "curves"}

__all__ = [
    "Plot",
    "Series",
    "confusion_matrix",
    "line_plot",
    "pr_curve",
    "pr_curve_from_points",
    "roc_curve",
    "roc_curve_from_points",
]


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"cml.report.plots.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module 'cml.report.plots' has no attribute {name!r}")
