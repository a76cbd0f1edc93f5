"""Line plots of training curves, with a base revision overlaid as dashed lines."""

from __future__ import annotations

from typing import Sequence

from cml.errors import UsageError
from cml.report.plots.common import MAX_DRAWN_POINTS, Plot, Series, check_output, downsample, legend_if_useful, new_figure, save_figure


def line_plot(
    series: Sequence[Series],
    output: str = "plot.png",
    title: str = "",
    x_label: str = "step",
    y_label: str = "",
    log_y: bool = False,
) -> Plot:
    """Draw ``series`` into ``output``; series sharing a ``color_key`` share a colour.

    Each series is thinned to about 4,000 drawn points with every bucket's
    minimum and maximum kept, so a million-point curve draws in well under a second.
    """
    if not series:
        raise UsageError("nothing to plot: give at least one y column")
    check_output(output)
    figure = new_figure(8.0, 4.8)
    axes = figure.add_subplot()
    colors: dict[str, str] = {}
    palette = [f"C{i}" for i in range(10)]
    for item in series:
        key = item.color_key or item.label
        color = colors.setdefault(key, palette[len(colors) % len(palette)])
        x, y = downsample(item.x, item.y, MAX_DRAWN_POINTS)
        axes.plot(x, y, color=color, linewidth=1.4, linestyle="--" if item.dashed else "-", label=item.label)
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(x_label)
    if y_label:
        axes.set_ylabel(y_label)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    legend_if_useful(axes, len(series), most=20)
    return save_figure(figure, output, title or "plot", points=sum(len(s.y) for s in series))
