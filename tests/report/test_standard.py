"""The standard report's library side: settings, discovery of what a project has, and Report.standard()."""

from __future__ import annotations

import os
import re

import pytest

from cml import Report
from cml.errors import InputError, QualityGateFailed
from cml.report.data import load_table
from cml.report.standard import (
    BLOCK_NAMES,
    Block,
    ReportSettings,
    default_plots_dir,
    dvc_plot_files,
    has_scores,
    load_settings,
    settings_from_mapping,
)
from tests.report.standard_project import make_project


def test_without_settings_every_block_in_the_default_order(repo):
    settings = load_settings()
    assert [block.name for block in settings.blocks] == list(BLOCK_NAMES)
    assert BLOCK_NAMES == ("metrics", "params", "plots", "confusion", "roc", "pr", "history")
    assert settings.source is None and settings.history == 20


def test_pyproject_settings_are_read_and_checked(repo):
    repo.write("pyproject.toml", """
        [tool.cml.report]
        blocks = ["history", {roc = {pos_label = "dog", title = "ROC"}}, "metrics"]
        rev = "origin/develop"
        predictions = "eval/predictions.csv"
        fail_on = "change(accuracy)<-0.01"
        higher_is_better = ["map*"]
        history = 50
        metrics = ["eval/metrics.json"]
        """)

    settings = load_settings()

    assert settings.blocks == (Block("history"), Block("roc", {"pos_label": "dog", "title": "ROC"}), Block("metrics"))
    assert (settings.rev, settings.predictions, settings.history) == ("origin/develop", "eval/predictions.csv", 50)
    assert settings.fail_on == ("change(accuracy)<-0.01",) and settings.higher_is_better == ("map*",)
    assert settings.metrics == ("eval/metrics.json",) and settings.source == "pyproject.toml"


def test_a_pyproject_without_cml_settings_is_ignored(repo):
    repo.write("pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nline-length = 120\n')
    assert load_settings() == ReportSettings()


def test_cml_yaml_settings_with_block_options(repo):
    repo.write("cml.yaml", """
        report:
          title: Nightly
          blocks:
            - metrics: {all: true}
            - history:
                count: 5
                metrics: [accuracy, "val_*"]
        """)
    settings = load_settings()
    assert settings.title == "Nightly"
    assert settings.blocks == (Block("metrics", {"all": True}),
                               Block("history", {"count": 5, "metrics": ("accuracy", "val_*")}))


@pytest.mark.parametrize(("document", "message"), [
    ({"blocks": []}, "'blocks' must be a list of block names"),
    ({"blocks": "metrics"}, "'blocks' must be a list of block names"),
    ({"blocks": ["metrics", "metrics"]}, "block 'metrics' is listed twice"),
    ({"blocks": [{"metrics": {"all": "yes"}}]}, "'metrics.all' must be true or false"),
    ({"blocks": [{"confusion": {"normalize": "rows"}}]}, "'confusion.normalize' must be one of true, pred, all"),
    ({"blocks": [{"history": {"count": 1}}]}, "'history.count' must be a whole number of commits from 2 to 1000"),
    ({"blocks": [{"roc": "dog"}]}, "block 'roc' takes a mapping of options (title, pos_label)"),
    ({"blocks": [{"roc": {}, "pr": {}}]}, "each item of 'blocks' must be a block name or {name: {options}}"),
    ({"history": True}, "'history' must be a whole number of commits from 2 to 1000"),
    ({"history": 5000}, "'history' must be a whole number of commits from 2 to 1000"),
    ({"title": ["a"]}, "'title' must be a non-empty string"),
    ({"fail_on": [1]}, "'fail_on' must be a string or a list of strings"),
    ({"fail_on": "loss>>5"}, "fail_on: cannot read rule 'loss>>5'"),
])
def test_every_value_is_checked(document, message):
    with pytest.raises(InputError) as caught:
        settings_from_mapping(document, "cml.yaml")
    assert str(caught.value).startswith("cml.yaml: ") and message in str(caught.value)


def test_errors_point_at_the_line(repo):
    repo.write("pyproject.toml", '[project]\nname = "x"\n\n[tool.cml.report]\ntitle = "t"\n  history = 0\n')
    with pytest.raises(InputError) as caught:
        load_settings()
    assert (caught.value.path, caught.value.line) == ("pyproject.toml", 6)

    os.remove("pyproject.toml")
    repo.write("cml.yaml", "report:\n  blocks:\n    - metrics\n    - confusion:\n        normalize: rows\n")
    with pytest.raises(InputError) as caught:
        load_settings()
    assert (caught.value.path, caught.value.line) == ("cml.yaml", 5)


def test_unknown_tables_under_tool_cml_are_refused(repo):
    repo.write("pyproject.toml", '[tool.cml.reports]\ntitle = "t"\n')
    with pytest.raises(InputError, match=r"unknown table \[tool\.cml\.reports\]; cml reads only \[tool\.cml\.report\]"):
        load_settings()


def test_an_explicit_file_must_hold_settings(repo):
    repo.write("settings.toml", '[tool.other]\nx = 1\n')
    repo.write("settings.yaml", "other: 1\n")
    with pytest.raises(InputError, match=r"^settings\.toml: has no \[tool\.cml\.report\] table"):
        load_settings("settings.toml")
    with pytest.raises(InputError, match=r"^settings\.yaml:1: unknown key 'other'"):
        load_settings("settings.yaml")


def test_settings_files_are_bounded(repo):
    repo.write("cml.yaml", "report:\n  title: &a [" + ", ".join(["*a"] * 150) + "]\n")
    with pytest.raises(InputError, match="YAML aliases"):
        load_settings()
    with open("big.yaml", "wb") as handle:
        handle.truncate(40 * 2**20)
    with pytest.raises(InputError, match="over the 32.0 MiB limit for settings files"):
        load_settings("big.yaml")


def test_dvc_plot_files_from_top_level_and_stage_plots(repo):
    repo.write("dvc.yaml", """
        plots:
          - predictions.csv:
              template: confusion
              x: predicted
              y: actual
          - Loss:
              x: step
              y:
                dvclive/plots/metrics/train/loss.tsv: loss
                dvclive/plots/metrics/eval/loss.tsv: loss
          - dvclive/plots/sklearn
        stages:
          train:
            wdir: model
            cmd: python train.py
            plots:
              - curves.csv:
                  cache: false
        """)
    repo.write("predictions.csv", "actual,predicted\n0,1\n")
    repo.write("dvclive/plots/metrics/train/loss.tsv", "step\tloss\n0\t1\n")
    repo.write("dvclive/plots/metrics/eval/loss.tsv", "step\tloss\n0\t1\n")
    repo.write("dvclive/plots/sklearn/roc.json", '{"roc": [{"fpr": 0, "tpr": 0}]}')
    repo.write("model/curves.csv", "step,loss\n0,1\n")

    assert dvc_plot_files() == {
        "predictions.csv": {"confusion"},
        "dvclive/plots/metrics/train/loss.tsv": {"linear"},
        "dvclive/plots/metrics/eval/loss.tsv": {"linear"},
        "dvclive/plots/sklearn/roc.json": {"linear"},
        "model/curves.csv": {"linear"},
    }
    os.remove("dvc.yaml")
    assert dvc_plot_files() is None


@pytest.mark.parametrize(("header", "expected"), [
    ("actual,predicted,score", True),
    ("actual,predicted,prob_cat,prob_dog", True),
    ("label,cat,dog", True),
    ("fpr,tpr,threshold", True),
    ("actual,predicted,prob_cat", False),
    ("actual,predicted", False),
])
def test_has_scores(repo, header, expected):
    columns = header.split(",")
    first = {"actual": "cat", "label": "cat", "predicted": "dog"}
    second = {"actual": "dog", "label": "dog", "predicted": "dog"}
    rows = [",".join(row.get(name, "0.5") for name in columns) for row in (first, second)]
    repo.write("table.csv", "\n".join([header, *rows]) + "\n")
    assert has_scores(load_table("table.csv")) is expected


def test_default_plots_dir_is_beside_the_report():
    assert default_plots_dir("report.md") == "report_plots"
    assert default_plots_dir(os.path.join("out", "pr.md")) == os.path.join("out", "pr_plots")


def test_report_standard_reads_another_folder(repo, tmp_path):
    make_project(repo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)

    report = Report.standard(elsewhere / "images", cwd=repo.path)
    path = report.write(elsewhere / "report.md")

    markdown = (elsewhere / "report.md").read_text()
    assert path == str(elsewhere / "report.md")
    assert re.findall(r"^## (.*)$", markdown, re.MULTILINE)[:3] == ["Metrics", "Params", "Plots"]
    links = re.findall(r"\]\(([^)]+)\)", markdown)
    assert links and all(link.startswith("images/") and (elsewhere / link).is_file() for link in links)
    assert not (repo.path / "report.md").exists()


def test_report_standard_takes_settings_and_raises_on_gates_after_writing(repo):
    make_project(repo)
    settings = ReportSettings(blocks=(Block("metrics"),), fail_on=("value(accuracy)>0.8",))

    report = Report.standard("plots", config=settings)

    assert report.gate_failures == ["metrics.json:accuracy is 0.81 (rule 'value(accuracy)>0.8')"]
    with pytest.raises(QualityGateFailed):
        report.write("report.md")
    assert "❌ `value(accuracy)>0.8`" in (repo.path / "report.md").read_text()
    assert report.notes == ()


def test_notes_say_what_was_left_out(repo):
    repo.write("params.yaml", "lr: 1\n")
    repo.commit()
    report = Report.standard(config=ReportSettings(blocks=(Block("params"), Block("metrics"), Block("roc"))))
    assert report.notes[0].startswith("metrics: skipped: no metrics files")
    assert report.notes[1].startswith("roc: skipped: no predictions")
    assert str(report).startswith("## Params\n\nNo changes in params between HEAD and workspace.")


def test_a_gate_is_never_passed_by_missing_metrics(repo):
    repo.write("params.yaml", "lr: 1\n")
    repo.commit()
    with pytest.raises(InputError, match=r"^cml\.yaml: fail_on: cannot check the gates: no metrics files"):
        Report.standard(config=ReportSettings(fail_on=("value(accuracy)<0.9",), source="cml.yaml"))
    with pytest.raises(InputError, match=r"^cml\.yaml: fail_on needs the metrics block"):
        settings_from_mapping({"blocks": ["params"], "fail_on": "value(accuracy)<0.9"}, "cml.yaml")


@pytest.mark.parametrize("key", ["predictions", "metrics", "params"])
def test_paths_in_the_settings_stay_inside_the_project(repo, tmp_path, key):
    (tmp_path / "secret.csv").write_text("actual,predicted\nsecret,value\n")
    repo.write("params.yaml", "lr: 1\n")
    repo.commit()
    value = "../secret.csv" if key == "predictions" else ("../secret.csv",)
    settings = ReportSettings(source="cml.yaml", **{key: value})
    with pytest.raises(InputError, match=rf"^cml\.yaml: {key}: \.\./secret\.csv is outside the project folder"):
        Report.standard(config=settings)
