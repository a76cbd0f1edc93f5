"""Training curves say what they show: the metric on the y axis and in the title, the x column as the x label with
whole-number ticks for steps and epochs, and the file name only where nothing better is known."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cml import Report
from cml.report.plots import Series, line_plot
from cml.report.plots.line import curves_title, metrics_label
from tests.conftest import assert_image


@dataclass
class Drawn:
    """The text an SVG plot shows, by role."""

    title: str | None
    x_label: str
    y_label: str | None
    x_ticks: list[str]
    y_ticks: list[str]
    legend: list[str]


def _texts(part: str) -> list[tuple[str, str]]:
    """(attributes, text) of each ``<text>`` element, in order."""
    return re.findall(r"<text([^>]*)>([^<]*)</text>", part)


def drawn(path) -> Drawn:
    """Read the title, labels, ticks and legend from an SVG that matplotlib wrote with text as text."""
    svg = Path(path).read_text(encoding="utf-8")
    x_start, y_start = svg.index('id="matplotlib.axis_1"'), svg.index('id="matplotlib.axis_2"')
    legend_start = svg.find('id="legend_1"')
    x_part = _texts(svg[x_start:y_start])
    rest = _texts(svg[y_start:legend_start if legend_start >= 0 else len(svg)])
    rotated = [index for index, (attributes, _) in enumerate(rest) if "rotate(-90" in attributes]
    y_ticks = [text for _, text in rest[:rotated[0] if rotated else None] if text]
    titles = [text for attributes, text in rest if "font-size: 12px" in attributes]
    legend = [text for _, text in _texts(svg[legend_start:])] if legend_start >= 0 else []
    return Drawn(titles[0] if titles else None, x_part[-1][1], rest[rotated[0]][1] if rotated else None,
                 [text for _, text in x_part[:-1]], y_ticks, legend)


def whole_numbers(ticks: list[str]) -> bool:
    return bool(ticks) and all(re.fullmatch(r"−?[\d,]+", tick) for tick in ticks)


EPOCHS = "epoch,loss,val_loss,accuracy,lr\n1,1.2,1.3,0.5,0.1\n2,0.8,0.95,0.62,0.1\n3,0.6,0.8,0.7,0.05\n"


def test_one_metric_is_the_title_and_the_y_label_and_epochs_tick_as_whole_numbers(repo, run_cli):
    repo.write("log.csv", EPOCHS)
    result = run_cli("plot", "line", "log.csv", "-y", "val_loss", "-o", "loss.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![val_loss](loss.svg)\n\n"
    shown = drawn("loss.svg")
    assert (shown.title, shown.x_label, shown.y_label) == ("val_loss", "epoch", "val_loss")
    assert shown.x_ticks == ["1", "2", "3"]  # not 1.00, 1.25, 1.50…
    assert shown.legend == [], "one line that the axis names needs no legend"


def test_a_few_metrics_of_one_file_are_the_title_and_their_common_word_the_y_label(repo, run_cli):
    repo.write("log.csv", EPOCHS)
    result = run_cli("plot", "line", "log.csv", "-y", "loss,val_loss", "-o", "losses.svg")
    assert result.stdout == "![loss, val_loss](losses.svg)\n\n"
    shown = drawn("losses.svg")
    assert (shown.title, shown.y_label, shown.legend) == ("loss, val_loss", "loss", ["loss", "val_loss"])

    run_cli("plot", "line", "log.csv", "-y", "loss,accuracy", "-o", "mixed.svg")
    mixed = drawn("mixed.svg")
    assert (mixed.title, mixed.y_label) == ("loss, accuracy", None), "no word names both metrics"


def test_every_column_of_a_file_is_titled_by_the_file_when_there_are_many(repo, run_cli):
    repo.write("runs/log.csv", EPOCHS)
    result = run_cli("plot", "line", "runs/log.csv", "-o", "all.svg")
    assert result.stdout == "![log](all.svg)\n\n"
    shown = drawn("all.svg")
    assert (shown.title, shown.y_label, shown.x_label) == ("log", None, "epoch")
    assert shown.legend == ["loss", "val_loss", "accuracy", "lr"]


def test_the_same_column_of_several_files_names_the_axis_and_the_legend_names_the_files(repo, run_cli):
    for name, shift in (("train", 0.0), ("eval", 0.1)):
        repo.write(f"dvclive/plots/metrics/{name}/loss.tsv",
                   "timestamp\tstep\tloss\n" + "".join(f"{s}\t{s}\t{1 / (s + 1) + shift}\n" for s in range(4)))
    repo.commit("base run")
    repo.write("dvclive/plots/metrics/train/loss.tsv", "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.5\n3\t2\t0.3\n")
    result = run_cli("plot", "line", "dvclive/plots/metrics/train/loss.tsv", "dvclive/plots/metrics/eval/loss.tsv",
                     "--rev", "HEAD", "-o", "curves.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![loss](curves.svg)\n\n"
    shown = drawn("curves.svg")
    assert (shown.title, shown.y_label, shown.x_label) == ("loss", "loss", "step")
    assert shown.legend == ["train/loss", "train/loss (HEAD)", "eval/loss", "eval/loss (HEAD)"]
    assert whole_numbers(shown.x_ticks), shown.x_ticks


def test_title_and_axis_labels_given_override_the_content(repo, run_cli):
    repo.write("log.csv", EPOCHS)
    result = run_cli("plot", "line", "log.csv", "-y", "loss", "--title", "Training", "--x-label", "pass",
                     "--y-label", "cross-entropy", "-o", "given.svg")
    assert result.stdout == "![Training](given.svg)\n\n"
    shown = drawn("given.svg")
    assert (shown.title, shown.x_label, shown.y_label) == ("Training", "pass", "cross-entropy")
    assert shown.legend == ["loss"], "the axis label no longer names the line"


def test_whole_x_values_tick_as_whole_numbers_with_thousands_separated(repo, run_cli):
    repo.write("time.csv", "seconds,loss\n0,1\n1,0.7\n2,0.5\n")
    run_cli("plot", "line", "time.csv", "-x", "seconds", "-o", "whole.svg")
    assert drawn("whole.svg").x_ticks == ["0", "1", "2"]
    repo.write("time.csv", "seconds,loss\n0,1\n0.5,0.7\n1.0,0.5\n")
    run_cli("plot", "line", "time.csv", "-x", "seconds", "-o", "fractions.svg")
    fractions = drawn("fractions.svg").x_ticks
    assert "0.2" in fractions and not whole_numbers(fractions), fractions
    steps = np.arange(0, 200_001, 100)
    np.savetxt("long.csv", np.c_[steps, 1 / (steps + 1)], delimiter=",", header="step,loss", comments="",
               fmt=["%d", "%.6f"])
    run_cli("plot", "line", "long.csv", "-o", "long.svg")
    ticks = drawn("long.svg").x_ticks
    assert whole_numbers(ticks) and "100,000" in ticks, ticks


def test_report_line_is_titled_and_labelled_by_its_series(tmp_path):
    report = (Report(tmp_path)
              .line({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7]}, x=[1, 2, 3], x_label="epoch",
                    filename="losses.svg")
              .line([0.5, 0.6, 0.7], y_label="accuracy", filename="accuracy.svg")
              .line([3, 2, 1])
              .line({"loss": [1, 0.5]}, title="Loss", y_label="", filename="plain.svg"))
    assert report.markdown(tmp_path) == ("![loss, val_loss](losses.svg)\n\n![accuracy](accuracy.svg)\n\n"
                                         "![Training curves](training_curves.png)\n\n![Loss](plain.svg)\n")
    losses = drawn(tmp_path / "losses.svg")
    assert (losses.title, losses.x_label, losses.y_label, losses.x_ticks) == ("loss, val_loss", "epoch", "loss",
                                                                             ["1", "2", "3"])
    accuracy = drawn(tmp_path / "accuracy.svg")
    assert (accuracy.title, accuracy.y_label, accuracy.legend, accuracy.x_ticks) == ("accuracy", "accuracy", [],
                                                                                     ["0", "1", "2"])
    plain = drawn(tmp_path / "plain.svg")
    assert (plain.title, plain.y_label, plain.legend) == ("Loss", None, ["loss"])
    assert_image(tmp_path / "training_curves.png")


DVCLIVE_SCRIPT = """
from dvclive import Live

with Live("dvclive", save_dvc_exp=False, dvcyaml=None) as live:
    for step in range(12):
        live.log_metric("train/loss", 1 / (step + 1))
        live.log_metric("eval/loss", 1.2 / (step + 1))
        live.next_step()
"""


def test_a_runs_metric_histories_are_titled_by_their_names(repo, run_cli):
    pytest.importorskip("dvclive")
    repo.write("train.py", DVCLIVE_SCRIPT)
    repo.commit("training script")  # dvclive reads the git HEAD
    subprocess.run([sys.executable, "train.py"], cwd=repo.path, check=True, capture_output=True)
    result = run_cli("plot", "line", "--dvclive", "dvclive", "-o", "run.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![eval/loss, train/loss](run.svg)\n\n"  # the histories in name order
    shown = drawn("run.svg")
    assert (shown.y_label, shown.x_label) == ("loss", "step")
    assert whole_numbers(shown.x_ticks), shown.x_ticks


def test_series_without_metric_names_keep_an_untitled_plot(tmp_path):
    plot = line_plot([Series("a", [0, 1], [1, 2]), Series("b", [0, 1], [2, 1])], str(tmp_path / "plot.svg"))
    assert plot.title == "plot"
    shown = drawn(tmp_path / "plot.svg")
    assert (shown.title, shown.y_label, shown.legend) == (None, None, ["a", "b"])


@pytest.mark.parametrize("metrics, label", [
    (["val_accuracy"], "val_accuracy"),
    (["loss", "val_loss"], "loss"),
    (["train/loss", "eval/loss", "test.loss"], "loss"),
    (["loss", "accuracy"], ""),
    ([], ""),
])
def test_metrics_label(metrics, label):
    assert metrics_label(metrics) == label


@pytest.mark.parametrize("metrics, sources, title", [
    (["loss"], ["train"], "loss"),
    (["loss", "val_loss", "acc"], ["log"], "loss, val_loss, acc"),
    (["loss", "val_loss", "acc", "lr"], ["log"], "log"),
    (["a_rather_long_metric_name", "another_rather_long_metric_name", "x"], ["a", "b"], "a, b"),
    (["a", "b", "c", "d"], ["1", "2", "3", "4"], "4 files"),
    ([], [], ""),
])
def test_curves_title(metrics, sources, title):
    assert curves_title(metrics, sources) == title
