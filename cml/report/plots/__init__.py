"""Plots rendered with matplotlib (Agg, no display), imported only when a plot is drawn."""

from cml.report.plots.common import Plot, Series
from cml.report.plots.confusion import confusion_matrix
from cml.report.plots.curves import pr_curve, pr_curve_from_points, roc_curve, roc_curve_from_points
from cml.report.plots.line import line_plot

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
