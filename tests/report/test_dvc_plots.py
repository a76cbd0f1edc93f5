"""DVC's plot definitions read as DVC reads them (checked against a real ``dvc plots show --json``), drawn as PNGs
with the base revision overlaid, and refused when they point outside the repository."""

from __future__ import annotations

import json
import math
import os
import posixpath
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cml import git
from cml.errors import InputError, UsageError
from cml.report.dvc_plots import PlotFiles, read_definitions, read_tables, resolve, select
from cml.report.plots.dvc import plot_title, render_dvc_plots, rolling_mean, smoothing_window

DVC = Path(sys.executable).parent / "dvc"

DVC_YAML = """
plots:
  - dvclive/plots/metrics:
      x: step
  - eval/confusion.json:
      template: confusion
      x: actual
      y: predicted
      title: Validation confusion
  - Normalized confusion:
      template: confusion_normalized
      x: {eval/confusion.json: actual}
      y: {eval/confusion.json: predicted}
  - Precision-Recall:
      template: simple
      x: recall
      y:
        eval/prc.json: precision
  - eval/importance.csv:
      template: bar_horizontal_sorted
      x: importance
      y: feature
      title: Feature importance
  - eval/importance_raw.csv:
      template: bar_horizontal
      x: importance
      y: feature
  - Losses:
      y:
        train.tsv: loss
        val.tsv: [loss, acc]
      x: step
      x_label: Epoch
      y_label: Loss
  - Accuracy against training loss:
      template: scatter_jitter
      x: {train.tsv: loss}
      y: {val.tsv: acc}
  - Cost in $ per $item:
      y: {val.tsv: loss}
  - eval/scatter.csv:
      template: scatter
      x: actual
      y: predicted
  - eval/roc.yaml:
      x: fpr
      y: tpr
stages:
  evaluate:
    cmd: python evaluate.py
    wdir: eval
    plots:
      - smooth.csv:
          template: smooth
          x: step
          y: val_loss
          cache: false
      - noheader.csv:
          header: false
          x: "0"
          y: "1"
"""

LABELS = ["cat", "dog", "bird", "fish"]


def write_data(repo, shift: float) -> None:
    """Every plot's files; ``shift`` changes every value (0: the base)."""
    rng = np.random.default_rng(int(shift * 1000))
    steps = range(40)
    repo.write("dvclive/plots/metrics/train/loss.tsv", "timestamp\tstep\tloss\n" + "".join(
        f"{1700000000 + s}\t{s}\t{math.exp(-s / (12 + 40 * shift)):.4f}\n" for s in steps))
    repo.write("dvclive/plots/metrics/acc.tsv", "timestamp\tstep\tacc\n" + "".join(
        f"{1700000000 + s}\t{s}\t{0.5 + s / 100 + shift:.4f}\n" for s in steps))
    actual = rng.choice(LABELS, 300)
    predicted = np.where(rng.random(300) < 0.7 + shift, actual, rng.choice(LABELS, 300))
    repo.write("eval/confusion.json", json.dumps([{"actual": a, "predicted": p} for a, p in zip(actual, predicted)]))
    repo.write("eval/prc.json", json.dumps({"prc": [{"recall": r / 10, "precision": round(1 - (r / 10) ** (2 + 5 * shift)
                                                                                          * 0.5, 4)} for r in range(11)]}))
    features = ["age", "income", "zip", "clicks", "tenure"]
    importance = "feature,importance\n" + "".join(f"{name},{abs(math.sin(i + 3 * shift)) / 2:.3f}\n"
                                                 for i, name in enumerate(features))
    repo.write("eval/importance.csv", importance)
    repo.write("eval/importance_raw.csv", importance)
    for name, factor in (("train", 1.0), ("val", 1.2)):
        repo.write(f"{name}.tsv", "step\tloss\tacc\n" + "".join(
            f"{s}\t{factor * math.exp(-s / 8) + shift:.4f}\t{0.5 + s / 50:.4f}\n" for s in range(20)))
    points = rng.uniform(0, 10, 100)
    repo.write("eval/scatter.csv", "actual,predicted\n" + "".join(
        f"{a:.3f},{a + rng.normal(0, 1.5 - 3 * shift):.3f}\n" for a in points))
    repo.write("eval/noheader.csv", "".join(f"{s},{s * s + shift}\n" for s in range(10)))
    repo.write("eval/roc.yaml", "roc:\n" + "".join(f"  - {{fpr: {f / 10}, tpr: {min(1.0, math.sqrt(f / 10) + shift):.3f}}}\n"
                                                   for f in range(11)))
    repo.write("eval/smooth.csv", "step,val_loss\n" + "".join(
        f"{s},{math.exp(-s / (60 + 100 * shift)) + rng.normal(0, 0.05):.4f}\n" for s in range(200)))


@pytest.fixture
def dvc_project(repo):
    """A DVC project with a plot per template, committed, then every plot's data changed."""
    if not DVC.exists():
        pytest.skip("DVC is not installed in this environment (pip install -e '.[bench]')")
    subprocess.run([str(DVC), "init", "-q"], cwd=repo.path, check=True, capture_output=True)
    repo.write("dvc.yaml", DVC_YAML)
    write_data(repo, 0.0)
    repo.commit("base")
    write_data(repo, 0.1)
    return repo


def dvc_json(repo, *args: str) -> dict:
    completed = subprocess.run([str(DVC), "plots", *args, "--json"], cwd=repo.path, capture_output=True, text=True,
                               check=True)
    return json.loads(completed.stdout)


def _first_field(content, axis: str) -> str:
    """The field of the first ``encoding.<axis>`` in a Vega-Lite spec (breadth first, as templates nest layers)."""
    queue = [content]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            encoding = node.get("encoding")
            if isinstance(encoding, dict) and isinstance(encoding.get(axis), dict) and "field" in encoding[axis]:
                return encoding[axis]["field"]
            queue.extend(value for key, value in node.items() if key != "data")
        elif isinstance(node, list):
            queue.extend(node)
    raise AssertionError(f"no {axis} field")


def assert_same_as_dvc(shown: dict, files: PlotFiles, rev: str) -> None:
    """Every plot of ``files`` (a side of a diff) has DVC's id, title, x and y fields, and rows of revision ``rev``."""
    assert shown.get("errors", []) == []
    definitions = read_definitions(files)
    assert definitions is not None and definitions.warnings == []
    assert {plot.id for plot in definitions.plots} == set(shown["data"])
    tables, problems = read_tables(files, definitions.plots)
    assert problems == {}
    for definition in definitions.plots:
        (vega,) = shown["data"][definition.id]
        content = vega["content"]
        ours = resolve(definition, tables)
        assert content["title"]["text"] == (definition.title or definition.id)
        x_field, y_field = _first_field(content, "x"), _first_field(content, "y")
        rows = [row for row in content["data"]["values"] if row["rev"] == rev]
        several_fields = len({item.y_field for item in ours.series}) > 1
        several_files = len({item.file for item in ours.series}) > 1
        prefix = len(posixpath.commonpath([item.file for item in ours.series])) if several_files else 0
        for item in ours.series:
            assert x_field == item.x_field
            assert y_field == ("dvc_inferred_y_value" if several_fields else item.y_field)
            key = f"{item.file[prefix:].strip('/')}::{item.y_field}"
            theirs = [row for row in rows if row.get("filename::field", key) == key]
            assert [(row[x_field], row[y_field]) for row in theirs] == list(zip(item.x, item.y)), definition.id
        if definition.kind not in ("confusion", "confusion_normalized"):
            assert len(rows) == sum(len(item.y) for item in ours.series)


def test_definitions_and_data_match_what_dvc_plots_show_reads(dvc_project):
    assert_same_as_dvc(dvc_json(dvc_project, "show"), PlotFiles.at(), "workspace")


def test_the_base_side_matches_what_dvc_plots_diff_reads(dvc_project):
    dvc_project.write("dvc.yaml", DVC_YAML.replace("title: Feature importance", "title: Importance now"))
    shown = dvc_json(dvc_project, "diff", "HEAD")
    base = PlotFiles.at(revision=git.resolve("HEAD"))
    assert read_definitions(base).get("eval/importance.csv").title == "Feature importance"
    for plots in shown["data"].values():  # DVC titles a plot as the workspace defines it
        plots[0]["content"]["title"]["text"] = plots[0]["content"]["title"]["text"].replace("Importance now",
                                                                                            "Feature importance")
    assert_same_as_dvc(shown, base, "HEAD")


def test_definition_details(dvc_project):
    definitions = read_definitions(PlotFiles.at())
    by_id = {plot.id: plot for plot in definitions.plots}
    assert by_id["eval/smooth.csv"].kind == "smooth"
    assert by_id["eval/smooth.csv"].origin == "dvc.yaml stage 'evaluate'"
    losses = by_id["Losses"]
    assert [(s.y_file, s.y_field, s.x_field) for s in losses.sources] == [
        ("train.tsv", "loss", "step"), ("val.tsv", "loss", "step"), ("val.tsv", "acc", "step")]
    assert plot_title(by_id["dvclive/plots/metrics/train/loss.tsv"]) == "train/loss"
    assert plot_title(by_id["eval/importance.csv"]) == "Feature importance"
    assert plot_title(by_id["Losses"]) == "Losses"
    chosen = select(definitions, ["dvclive/plots/metrics"])
    assert [plot.id for plot in chosen] == ["dvclive/plots/metrics/acc.tsv", "dvclive/plots/metrics/train/loss.tsv"]
    assert [plot.id for plot in select(definitions, ["train.tsv", "Precision-Recall"])] == [
        "Losses", "Accuracy against training loss", "Precision-Recall"]
    with pytest.raises(UsageError, match=r"^targets: no plot in dvc.yaml is 'nope'; its plots are: 'dvclive/"):
        select(definitions, ["nope"])


def _opaque(path) -> np.ndarray:
    image = Image.open(path)
    rgba = np.asarray(image.convert("RGBA"))
    assert rgba[..., 3].min() == 255, f"{path} has transparent pixels"
    return rgba[..., :3].astype(int)


def _near(pixels: np.ndarray, colour: str, tolerance: int = 40) -> int:
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - target).sum(axis=-1) < tolerance).sum())


def test_every_template_is_drawn_with_the_base_overlaid(dvc_project, tmp_path):
    with_base = render_dvc_plots(tmp_path / "base", revision=git.resolve("HEAD"))
    head_only = render_dvc_plots(tmp_path / "head")
    assert with_base.warnings == [] and head_only.warnings == []
    ids = [plot.details["id"] for plot in with_base.plots]
    assert ids == [plot.id for plot in read_definitions(PlotFiles.at()).plots]
    assert all(plot.details["base"] for plot in with_base.plots)
    assert not any(plot.details["base"] for plot in head_only.plots)
    names = [os.path.basename(plot.path) for plot in with_base.plots]
    assert len(set(names)) == len(names) and "losses.png" in names and "eval_smooth.png" in names
    for overlaid, alone in zip(with_base.plots, head_only.plots):
        assert overlaid.title == alone.title
        pixels, plain = _opaque(overlaid.path), _opaque(alone.path)
        assert 300 <= pixels.shape[1] <= 1400 and os.path.getsize(overlaid.path) < 200_000
        template = overlaid.details["template"]
        if template in ("linear", "simple", "smooth", "scatter", "scatter_jitter"):
            # The base's dashed lines (hollow markers) are in the head's colour: more of it is drawn.
            assert _near(pixels, "#1f77b4") > _near(plain, "#1f77b4") * 1.1, overlaid.details["id"]
        elif template.startswith("bar_horizontal"):
            assert _near(pixels, "#000000", 60) > _near(plain, "#000000", 60) + 200, overlaid.details["id"]
        else:  # confusion: a second panel with the change
            assert pixels.shape[1] / pixels.shape[0] > plain.shape[1] / plain.shape[0] * 1.05
            assert "change" in overlaid.details
    by_id = {plot.details["id"]: plot for plot in with_base.plots}
    assert by_id["eval/confusion.json"].details["normalize"] is None
    assert by_id["Normalized confusion"].details["normalize"] == "pred"  # DVC's template divides by predicted class
    assert by_id["eval/importance.csv"].details["bars"] == 5


def test_markdown_lists_every_image_with_its_title(dvc_project, tmp_path):
    plots = render_dvc_plots("out", targets=["Losses", "eval/confusion.json"])
    assert plots.markdown_in() == "![Losses](out/losses.png)\n![Validation confusion](out/eval_confusion.png)"
    assert plots.markdown_in("out/report.md") == "![Losses](losses.png)\n![Validation confusion](eval_confusion.png)"
    # A target that is not an id picks every plot reading that file.
    plots = render_dvc_plots("out", targets=["eval/prc.json", "train.tsv"])
    assert [plot.title for plot in plots.plots] == ["Precision-Recall", "Losses", "Accuracy against training loss"]


def test_a_file_missing_at_the_base_is_drawn_without_overlay_and_counted(dvc_project, tmp_path):
    dvc_project.write("dvc.yaml", DVC_YAML.replace("plots:\n", "plots:\n  - new.csv\n", 1))
    dvc_project.write("new.csv", "step,f1\n0,0.5\n1,0.6\n")
    (dvc_project.path / "eval/prc.json").unlink()
    dvc_project.commit("drop prc from the base")
    dvc_project.write("eval/prc.json", json.dumps([{"recall": 0, "precision": 1}, {"recall": 1, "precision": 0.5}]))
    plots = render_dvc_plots(tmp_path, revision=git.resolve("HEAD~1"))
    by_id = {plot.details["id"]: plot for plot in plots.plots}
    assert not by_id["new.csv"].details["base"]
    assert by_id["Losses"].details["base"] and by_id["Precision-Recall"].details["base"]
    assert "plot 'new.csv' is not in dvc.yaml at HEAD~1; drawn without the base" in plots.warnings
    plots = render_dvc_plots(tmp_path, revision=git.resolve("HEAD"))
    assert plots.warnings == ["eval/prc.json is not at HEAD; plot 'Precision-Recall' is drawn without the base"]
    assert [plot.details["id"] for plot in plots.plots if not plot.details["base"]] == ["Precision-Recall"]


def test_report_adds_every_plot(dvc_project, tmp_path):
    from cml.report import Report

    report = Report(tmp_path / "report").dvc_plots(rev="HEAD", targets=["dvclive/plots/metrics"])
    assert report.markdown(tmp_path / "report") == (
        "![acc](dvc_plots/dvclive_plots_metrics_acc.png)\n\n"
        "![train/loss](dvc_plots/dvclive_plots_metrics_train_loss.png)\n")


def test_report_warns_about_what_it_could_not_compare(dvc_project, tmp_path):
    from cml.report import Report

    dvc_project.write("dvc.yaml", DVC_YAML.replace("template: simple", "template: fancy"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Report(tmp_path).dvc_plots(targets=["Precision-Recall"], compare=False)
    assert [str(w.message) for w in caught] == [
        "dvc.yaml: plot 'Precision-Recall' uses template 'fancy', which cml does not draw; drawn as linear "
        "(cml draws: linear, simple, scatter, scatter_jitter, smooth, confusion, confusion_normalized, bar_horizontal, "
        "bar_horizontal_sorted)"]


# -- definitions without DVC ---------------------------------------------------------------------------------------


def test_paths_outside_the_repository_are_refused(repo, tmp_path):
    repo.write("dvc.yaml", "plots:\n  - ../../etc/passwd\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:2: plot '\.\./\.\./etc/passwd': '\.\./\.\./etc/passwd' is outside "
                                         r"the repository \(.*\); give a path inside it$"):
        render_dvc_plots(tmp_path / "out")
    repo.write("dvc.yaml", "plots:\n  - Secrets:\n      y: {/etc/passwd: root}\n")
    with pytest.raises(InputError, match="plot 'Secrets': '/etc/passwd' is an absolute path"):
        render_dvc_plots(tmp_path / "out")
    repo.write("dvc.yaml", "plots:\n  - .git/config\n")
    with pytest.raises(InputError, match="is inside the .git folder"):
        render_dvc_plots(tmp_path / "out")
    os.symlink("/etc/hostname", repo.path / "link.csv")
    repo.write("dvc.yaml", "plots:\n  - link.csv\n")
    with pytest.raises(InputError, match=r"plot 'link.csv': 'link.csv' is outside the repository \(.*\): it resolves to "
                                         r"/etc/hostname; give a path inside it$"):
        render_dvc_plots(tmp_path / "out")
    (repo.path / "logs").mkdir()
    os.symlink("/etc/hostname", repo.path / "logs" / "host.tsv")
    repo.write("dvc.yaml", "plots:\n  - logs\n")
    with pytest.raises(InputError, match="plot 'logs/host.tsv': 'logs/host.tsv' is outside the repository"):
        render_dvc_plots(tmp_path / "out")
    repo.write("dvc.yaml", "stages:\n  s:\n    cmd: x\n    wdir: ../..\n    plots:\n      - etc/passwd\n")
    with pytest.raises(InputError, match="is outside the repository"):
        render_dvc_plots(tmp_path / "out")


def test_huge_files_are_refused_before_reading(repo, tmp_path):
    repo.write("dvc.yaml", "plots:\n  - huge.csv\n")
    with open(repo.path / "huge.csv", "wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: nothing is written, so nothing big is read if it is refused
    with pytest.raises(InputError, match=r"^huge.csv: is 300.0 MiB, over the 256.0 MiB limit for tables"):
        render_dvc_plots(tmp_path / "out")


def test_missing_dvc_yaml_or_plots_say_what_to_add(repo, tmp_path):
    with pytest.raises(UsageError, match=r"^there is no dvc.yaml in .*; add one that lists your plots, for example: "
                                         r"plots: \["):
        render_dvc_plots(tmp_path)
    repo.write("dvc.yaml", "stages:\n  train:\n    cmd: python train.py\n")
    with pytest.raises(UsageError, match=r"^dvc.yaml defines no plots; add a plots: list"):
        render_dvc_plots(tmp_path)


def test_broken_definitions_name_dvc_yaml_and_the_plot(repo, tmp_path):
    repo.write("a.csv", "step,loss\n0,1\n1,0.5\n")
    repo.write("dvc.yaml", "plots:\n  - a.csv:\n      y: nope\n")
    with pytest.raises(InputError, match=r"^a.csv: has no column 'nope' \(from plot 'a.csv' in dvc.yaml\); its "
                                         r"columns are: step, loss$"):
        render_dvc_plots(tmp_path)
    repo.write("dvc.yaml", "plots:\n  - Named:\n      y: loss\n")
    with pytest.raises(UsageError, match=r"^none of the plots in dvc.yaml could be drawn: dvc.yaml: plot 'Named': Named "
                                         r"is not a file DVC plots; a plot named rather than a file maps y to its files: "
                                         r"\{Named: \{y: \{file.csv: column\}\}\}; skipped$"):
        render_dvc_plots(tmp_path)
    repo.write("dvc.yaml", "plots:\n  - Pair:\n      x: {a.csv: step, b.csv: step}\n      y: {a.csv: [loss, step, "
                           "loss]}\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:2: plot 'Pair': 'x' names 2 columns and 'y' 3"):
        render_dvc_plots(tmp_path)
    repo.write("dvc.yaml", "plots:\n  - a.csv:\n      template: [linear]\n")
    with pytest.raises(InputError, match=r"plot 'a.csv': 'template' must be text"):
        render_dvc_plots(tmp_path)


def test_missing_head_files_and_image_plots(repo, tmp_path):
    from tests.conftest import assert_image

    repo.write("a.csv", "step,loss\n0,1\n1,0.5\n2,0.4\n")
    repo.write("dvc.yaml", "plots:\n  - a.csv\n  - gone.csv\n  - notes.txt\n  - plots/images\n")
    (repo.path / "plots/images").mkdir(parents=True)
    render_dvc_plots(tmp_path / "first", targets=["a.csv"])
    (repo.path / "plots/images/curve.png").write_bytes((tmp_path / "first/a.png").read_bytes())
    repo.write("notes.txt", "text")
    repo.commit()
    plots = render_dvc_plots(tmp_path / "out", revision=git.resolve("HEAD"))
    assert plots.warnings == [
        "dvc.yaml: plot 'gone.csv': gone.csv is not in the working tree; skipped",
        "dvc.yaml: plot 'notes.txt': notes.txt is not a file DVC plots (CSV, TSV, JSON, YAML or an image: .jpg, "
        ".jpeg, .gif, .png, .svg); skipped",
    ]
    assert [plot.title for plot in plots.plots] == ["a", "curve"]
    assert plots.plots[1].path == "plots/images/curve.png"  # linked where it is
    # A changed image: the base's version is written beside the others.
    repo.write("a.csv", "step,loss\n0,2\n1,0.1\n2,0.3\n")
    render_dvc_plots(tmp_path / "second", targets=["a.csv"])
    (repo.path / "plots/images/curve.png").write_bytes((tmp_path / "second/a.png").read_bytes())
    plots = render_dvc_plots(tmp_path / "out", revision=git.resolve("HEAD"), targets=["plots/images"])
    assert [plot.title for plot in plots.plots] == ["curve", "curve (HEAD)"]
    assert os.path.basename(plots.plots[1].path) == "plots_images_curve_head.png"  # the base's, named after it
    assert_image(plots.plots[1].path)
    assert Path(plots.plots[1].path).read_bytes() == git.resolve("HEAD").read_file("plots/images/curve.png")


def test_folder_plots_defer_to_a_more_specific_definition(repo):
    repo.write("logs/train/loss.tsv", "step\tloss\n0\t1\n")
    repo.write("logs/acc.tsv", "step\tacc\n0\t0.5\n")
    repo.write("dvc.yaml", "plots:\n  - logs:\n      x: step\n  - logs/train/loss.tsv:\n      template: scatter\n")
    definitions = read_definitions(PlotFiles.at())
    assert [(plot.id, plot.kind) for plot in definitions.plots] == [("logs/acc.tsv", "linear"),
                                                                   ("logs/train/loss.tsv", "scatter")]


def test_folders_and_definitions_are_read_at_a_revision(repo, tmp_path):
    repo.write("logs/loss.tsv", "step\tloss\n0\t1\n1\t0.5\n")
    repo.write("dvc.yaml", "plots:\n  - logs:\n      x: step\n")
    repo.commit()
    repo.write("dvc.yaml", "plots:\n  - logs:\n      x: step\n      y: loss\n")
    revision = git.resolve("HEAD")
    at_base = read_definitions(PlotFiles.at(revision=revision))
    assert [(plot.id, plot.sources[0].y_field) for plot in at_base.plots] == [("logs/loss.tsv", None)]
    files = PlotFiles.at(revision=revision)
    tables, _ = read_tables(files, at_base.plots)
    data = resolve(at_base.plots[0], tables)
    assert (data.series[0].y_field, data.series[0].y) == ("loss", ["1", "0.5"])


def test_many_bars_keep_the_largest(repo, tmp_path):
    repo.write("imp.csv", "feature,importance\n" + "".join(f"f{i},{i / 100}\n" for i in range(120)))
    repo.write("dvc.yaml", "plots:\n  - imp.csv:\n      template: bar_horizontal_sorted\n      x: importance\n"
                           "      y: feature\n")
    (plot,) = render_dvc_plots(tmp_path).plots
    assert (plot.details["bars"], plot.details["total"]) == (40, 120)
    _opaque(plot.path)


def test_rolling_mean_is_centred_and_skips_gaps():
    values = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert rolling_mean(values, 3).tolist() == [1.5, 1.5, 3.0, 4.5, 4.5]
    assert smoothing_window(4) == 1 and smoothing_window(10) == 3 and smoothing_window(200) == 11


def test_a_folder_of_thousands_of_files_is_cut_to_the_most_drawn(repo):
    from cml.report.dvc_plots import MAX_DVC_PLOTS

    for index in range(MAX_DVC_PLOTS + 5):
        repo.write(f"many/{index:04d}.csv", "step,x\n0,1\n")
    repo.write("dvc.yaml", "plots:\n  - many\n")
    definitions = read_definitions(PlotFiles.at())
    assert len(definitions.plots) == MAX_DVC_PLOTS and definitions.plots[-1].id == f"many/{MAX_DVC_PLOTS - 1:04d}.csv"
    assert definitions.warnings == [f"dvc.yaml defines {MAX_DVC_PLOTS + 5} plots; only the first {MAX_DVC_PLOTS} are "
                                    "drawn (pick some with targets)"]


def test_entries_with_several_plots_and_malformed_lists(repo):
    repo.write("a.csv", "step,loss\n0,1\n")
    repo.write("b.csv", "step,acc\n0,1\n")
    repo.write("dvc.yaml", "plots:\n  - a.csv:\n      x: step\n    b.csv:\n      template: scatter\n")
    assert [(plot.id, plot.kind) for plot in read_definitions(PlotFiles.at()).plots] == [("a.csv", "linear"),
                                                                                        ("b.csv", "scatter")]
    repo.write("dvc.yaml", "stages:\n  train:\n    cmd: x\n    plots: a.csv\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:2: stage 'train': 'plots' must be a list"):
        read_definitions(PlotFiles.at())
    repo.write("dvc.yaml", "plots: a.csv\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:1: 'plots' must be a list of paths or \{id: options\}$"):
        read_definitions(PlotFiles.at())
    repo.write("dvc.yaml", "plots:\n  - [a.csv]\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:1: each plot must be a path or \{id: options\}, not \"\['a.csv'\]\"$"):
        read_definitions(PlotFiles.at())
    repo.write("dvc.yaml", "stages:\n  train:\n    cmd: x\n    plots:\n      - 3\n")
    with pytest.raises(InputError, match=r"^dvc.yaml:2: stage 'train': each plot must be a path or \{path: options\}, "
                                         r"not '3'$"):
        read_definitions(PlotFiles.at())


def test_image_names_are_readable_unique_and_the_same_on_every_file_system(tmp_path):
    from cml.report.plots.common import ImageNames

    names = ImageNames(str(tmp_path))
    made = [os.path.basename(names(stem)) for stem in
            ("Losses", "losses", "train/val.loss", "../../etc/passwd", "эпоха", "", "a" * 100 + "_b")]
    assert made == ["losses.png", "losses_2.png", "train_val_loss.png", "etc_passwd.png", "plot.png", "plot_2.png",
                    "a" * 80 + ".png"]
    names.taken.add("roc.png")
    assert names("ROC") == str(tmp_path / "roc_2.png") and names("roc", ".svg") == str(tmp_path / "roc.svg")


def test_an_image_is_named_after_its_plot_id_without_a_file_extension_only(repo, tmp_path):
    repo.write("a.csv", "step,loss\n0,1\n1,0.5\n")
    repo.write("dvc.yaml", "plots:\n  - a.csv\n  - v1.2 run:\n      y: {a.csv: loss}\n")
    plots = render_dvc_plots(tmp_path / "out")
    assert [os.path.basename(plot.path) for plot in plots.plots] == ["a.png", "v1_2_run.png"]
