"""Floor of ``cml plot line FILE -x step -y loss``: parse with the fastest reader, thin the curve to the points
cml draws, draw one line.

    python benchmarks/floors/line.py curve.csv -o floor.png --size 960x576
"""

from __future__ import annotations

from floor import Stopwatch, arguments, downsample, figure_of, finish, read_columns


def main() -> None:
    options = arguments(__doc__.splitlines()[0], "x=step", "y=loss")
    watch = Stopwatch()
    x, y = read_columns(options.file, [options.x, options.y], reader=options.reader)
    watch.lap("read")
    x, y = downsample(x, y)
    figure = figure_of(options.size)
    axes = figure.add_subplot()
    axes.plot(x, y, linewidth=1.4)
    finish(figure, axes, (options.x, options.y, options.y), options.output, watch, options.timings)


if __name__ == "__main__":
    main()
