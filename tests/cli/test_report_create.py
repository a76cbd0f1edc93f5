"""``cml report create``: the standard report from a real project in a real git repository."""

from __future__ import annotations

import re

import pytest

from cml import Report
from tests.conftest import assert_image, git
from tests.report.standard_project import make_project, write_results

IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)]+)\)")


def headings(markdown: str) -> list[str]:
    return re.findall(r"^#+ (.*)$", markdown, flags=re.MULTILINE)


def has_column(markdown: str, name: str) -> bool:
    return re.search(rf"^\|.*\| +{re.escape(name)} +\|", markdown, re.MULTILINE) is not None


def images(markdown: str) -> list[str]:
    return [target for _, target in IMAGE.findall(markdown)]


@pytest.fixture
def project(repo):
    return make_project(repo)


def test_no_arguments_writes_every_block_the_project_has(project, run_cli):
    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "report.md\n"
    report = (project.path / "report.md").read_text()
    assert headings(report) == ["Metrics", "Params", "Plots", "Confusion matrix", "ROC curve",
                                "Precision-recall curve", "Metric history"]
    assert re.search(r"^\| accuracy +\| +0\.73 +\| +0\.81 .*✅ better", report, re.MULTILINE), report
    assert re.search(r"^\| train\.lr +\| +0\.1 +\| +0\.05 ", report, re.MULTILINE), report
    assert has_column(report, "HEAD") and has_column(report, "workspace")
    links = images(report)
    assert links[:3] == ["report_plots/accuracy.png", "report_plots/loss.png", "report_plots/confusion_matrix.png"]
    assert links[3:5] == ["report_plots/roc_curve.png", "report_plots/precision_recall.png"]
    for link in links:
        assert not link.startswith("/") and (project.path / link).is_file(), link
        assert_image(project.path / link)
    history = report.split("## Metric history\n\n", 1)[1]
    assert re.search(r"^\| accuracy +\| +0\.7 +\| +0\.81 .*\| `[▁-█]{5}` +\|$", history, re.MULTILINE), history
    assert result.stderr == ""


def test_the_training_curves_overlay_the_base_dashed(project, run_cli):
    assert run_cli("report", "create").exit_code == 0
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(project.path / "report_plots/loss.png").convert("RGB")).astype(int)
    # train/loss changed since HEAD: its colour (matplotlib's C1, orange) is drawn twice, solid and dashed.
    orange = (np.abs(pixels - [255, 127, 14]).sum(axis=2) < 60)
    rows_with_orange = np.flatnonzero(orange.any(axis=1))
    assert orange.sum() > 500 and rows_with_orange.size > 100


def test_links_are_relative_to_the_report_wherever_it_and_the_images_go(project, run_cli):
    result = run_cli("report", "create", "-o", "out/pr/summary.md")
    assert result.exit_code == 0, result.stderr
    report = (project.path / "out/pr/summary.md").read_text()
    assert all(link.startswith("summary_plots/") for link in images(report))
    assert (project.path / "out/pr/summary_plots/confusion_matrix.png").is_file()

    result = run_cli("report", "create", "-o", "out/r.md", "--plots-dir", "images")
    assert result.exit_code == 0, result.stderr
    links = images((project.path / "out/r.md").read_text())
    assert links and all(link.startswith("../images/") for link in links)
    assert all((project.path / "out" / link).resolve().is_file() for link in links)


def test_same_markdown_as_report_standard(project, run_cli):
    assert run_cli("report", "create", "-o", "cli.md", "--plots-dir", "plots").exit_code == 0
    expected = (project.path / "cli.md").read_text()

    report = Report.standard("plots")
    report.write("api.md")

    assert (project.path / "api.md").read_text() == expected
    assert report.notes == () or all(":" in note for note in report.notes)


def test_the_base_is_the_pull_requests_target_branch_in_ci(project, run_cli):
    head = project.git("rev-parse", "HEAD").strip()
    project.git("update-ref", "refs/remotes/origin/main", head + "~2")
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}

    result = run_cli("report", "create", env=env)

    assert result.exit_code == 0, result.stderr
    report = (project.path / "report.md").read_text()
    assert has_column(report, "origin/main") and re.search(r"^\| accuracy +\| +0\.71 ", report, re.MULTILINE), report

    result = run_cli("report", "create", "--rev", "HEAD~1", env=env)
    assert has_column((project.path / "report.md").read_text(), "HEAD~1")


def test_an_unknown_base_is_an_error_that_says_how_to_fetch_it(project, run_cli):
    result = run_cli("report", "create", "--rev", "origin/nowhere")
    assert result.exit_code == 1
    assert "origin/nowhere" in result.stderr and "git fetch" in result.stderr
    assert not (project.path / "report.md").exists()


def test_blocks_without_inputs_are_left_out_with_one_line_each(repo, run_cli):
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.commit()
    repo.write("metrics.json", '{"accuracy": 0.91}')

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    assert headings((repo.path / "report.md").read_text())[0] == "Metrics"
    lines = result.stderr.splitlines()
    for block in ("params", "plots", "confusion", "roc", "pr"):
        (line,) = [line for line in lines if line.startswith(f"cml: warning: {block}: skipped: ")]
    assert any("no params files" in line for line in lines)
    assert any("no predictions (predictions.csv" in line for line in lines)
    assert not (repo.path / "report_plots").exists() or not any((repo.path / "report_plots").iterdir())


def test_a_project_with_nothing_gives_an_empty_report_not_an_error(repo, run_cli):
    repo.write("README.md", "hello")
    repo.commit()
    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert "metrics: skipped: no metrics files" in result.stderr


def test_predictions_without_scores_draw_the_matrix_and_say_why_there_are_no_curves(repo, run_cli):
    repo.write("predictions.csv", "actual,predicted\ncat,cat\ndog,cat\ndog,dog\n")
    repo.commit()

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    assert headings((repo.path / "report.md").read_text()) == ["Confusion matrix"]
    assert "roc: skipped: predictions.csv has no scores" in result.stderr
    assert "pr: skipped: predictions.csv has no scores" in result.stderr


def test_binary_labels_need_the_positive_class_which_the_settings_name(repo, run_cli):
    repo.write("predictions.csv", "actual,predicted,score\ncat,cat,0.2\ndog,cat,0.4\ndog,dog,0.9\ncat,dog,0.6\n")
    repo.commit()

    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert "roc: skipped: " in result.stderr and "the roc block's pos_label option" in result.stderr

    repo.write("cml.yaml", "report:\n  blocks:\n    - roc: {pos_label: dog}\n    - pr: {pos_label: dog}\n")
    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert headings((repo.path / "report.md").read_text()) == ["ROC curve", "Precision-recall curve"]

    repo.write("cml.yaml", "report:\n  blocks:\n    - roc: {pos_label: bird}\n")
    result = run_cli("report", "create")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: cml.yaml: roc.pos_label: 'bird' is not a label")


def test_dvclive_sklearn_plots_stand_in_for_a_predictions_file(repo, run_cli):
    repo.write("dvclive/plots/sklearn/confusion_matrix.json",
               '[{"actual": "0", "predicted": "0"}, {"actual": "1", "predicted": "0"}, {"actual": "1", "predicted": "1"}]')
    repo.write("dvclive/plots/sklearn/roc.json",
               '{"roc": [{"fpr": 0.0, "tpr": 0.0, "threshold": 1.0}, {"fpr": 0.5, "tpr": 1.0, "threshold": 0.5}, '
               '{"fpr": 1.0, "tpr": 1.0, "threshold": 0.0}]}')
    repo.commit()

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    report = (repo.path / "report.md").read_text()
    assert headings(report) == ["Confusion matrix", "ROC curve"]
    assert "pr: skipped: no predictions" in result.stderr and "precision_recall.json" in result.stderr


def test_pyproject_chooses_and_orders_the_blocks(project, run_cli):
    project.write("pyproject.toml", """
        [project]
        name = "model"

        [tool.cml.report]
        title = "Model report"
        blocks = ["roc", {metrics = {title = "Scores", all = true}}, "params"]
        """)

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    report = (project.path / "report.md").read_text()
    assert report.startswith("# Model report\n\n## ROC curve\n")
    assert headings(report) == ["Model report", "ROC curve", "Scores", "Params"]
    assert "skipped" not in result.stderr
    assert images(report) == ["report_plots/roc_curve.png"]


def test_cml_yaml_sets_gates_directions_and_block_options(project, run_cli):
    project.write("cml.yaml", """
        report:
          blocks:
            - confusion: {normalize: "true", title: Errors by class}
            - metrics
          lower_is_better: [accuracy]
          fail_on: ["value(loss)>0.9"]
        """)

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    report = (project.path / "report.md").read_text()
    assert headings(report) == ["Errors by class", "Metrics"]
    assert re.search(r"^\| accuracy .*❌ worse", report, re.MULTILINE), report
    assert "✅ `value(loss)>0.9`: passed (loss 0.42)" in report


def test_a_failed_gate_exits_2_after_writing_the_report(project, run_cli):
    project.write("cml.yaml", "report:\n  fail_on: ['value(accuracy)<0.9', 'change(loss)<-0.5']\n")

    result = run_cli("report", "create")

    assert result.exit_code == 2
    report = (project.path / "report.md").read_text()
    assert "❌ `value(accuracy)<0.9`: accuracy is 0.81" in report
    assert "✅ `change(loss)<-0.5`" in report
    assert headings(report)[:2] == ["Metrics", "Params"] and (project.path / "report_plots/roc_curve.png").exists()
    assert result.stdout == "report.md\n"
    assert result.stderr.splitlines()[-1] == \
        "cml: error: quality gate failed: metrics.json:accuracy is 0.81 (rule 'value(accuracy)<0.9')"


def test_a_gate_that_matches_no_metric_names_the_settings_file(project, run_cli):
    project.write("cml.yaml", "report:\n  fail_on: ['value(acuracy)<0.9']\n")
    result = run_cli("report", "create")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: cml.yaml: fail_on: rule 'value(acuracy)<0.9' matches no metric")
    assert not (project.path / "report.md").exists()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("pyproject.toml", '[tool.cml.report]\ntitle = "x"\ncolour = "red"\n',
     "pyproject.toml:3: unknown key 'colour' in the report settings; keys are: blocks, title, rev, predictions, "
     "fail_on, higher_is_better, lower_is_better, history, metrics, params"),
    ("pyproject.toml", '[tool.cml.report]\nblocks = ["metrics", "charts"]\n',
     "pyproject.toml:2: unknown block 'charts'; blocks are: metrics, params, plots, confusion, roc, pr, history"),
    ("cml.yaml", "report:\n  blocks:\n    - metrics\n    - charts\n",
     "cml.yaml:4: unknown block 'charts'; blocks are: metrics, params, plots, confusion, roc, pr, history"),
    ("cml.yaml", "report:\n  blocks:\n    - roc:\n        pos_label: dog\n        colour: red\n",
     "cml.yaml:5: unknown option 'colour' of block 'roc'; its options are: title, pos_label"),
    ("cml.yaml", "report:\n  title: x\n  history: many\n",
     "cml.yaml:3: 'history' must be a whole number of commits from 2 to 1000"),
    ("cml.yaml", "reports:\n  title: x\n",
     "cml.yaml:1: unknown key 'reports'; cml.yaml holds the report settings under 'report:'"),
    ("cml.yaml", "report:\n  fail_on: accuracy<0.9\n",
     "cml.yaml:2: fail_on: rule 'accuracy<0.9' could mean the value or the change; write value(accuracy)<0.9 for "
     "the value, or change(accuracy)<0.9 for the change"),
])
def test_invalid_settings_are_one_line_naming_the_file_and_nothing_is_written(project, run_cli, name, content,
                                                                             message):
    project.write(name, content)

    result = run_cli("report", "create")

    assert result.exit_code == 1
    assert result.stderr == f"cml: error: {message}\n"
    assert not (project.path / "report.md").exists() and not (project.path / "report_plots").exists()


def test_settings_in_both_files_are_an_error(project, run_cli):
    project.write("pyproject.toml", '[tool.cml.report]\ntitle = "a"\n')
    project.write("cml.yaml", "report:\n  title: b\n")
    result = run_cli("report", "create")
    assert result.exit_code == 1
    assert "keep them in one of the two files" in result.stderr


def test_config_option_reads_another_file(project, run_cli):
    project.write("pyproject.toml", '[tool.cml.report]\nblocks = ["metrics"]\n')
    project.write("ci/report.yaml", "report:\n  blocks: [params]\n  rev: HEAD~2\n")

    result = run_cli("report", "create", "--config", "ci/report.yaml")

    assert result.exit_code == 0, result.stderr
    report = (project.path / "report.md").read_text()
    assert headings(report) == ["Params"] and has_column(report, "HEAD~2")

    result = run_cli("report", "create", "--config", "ci/missing.yaml")
    assert result.exit_code == 1 and "ci/missing.yaml: no such file" in result.stderr


def test_html_output_inlines_the_images(project, run_cli):
    result = run_cli("report", "create", "-o", "report.html")
    assert result.exit_code == 0, result.stderr
    page = (project.path / "report.html").read_text()
    assert "<h2>Metrics</h2>" in page and page.count("data:image/png;base64,") >= 5


def test_options_come_from_the_environment(project, run_cli):
    result = run_cli("report", "create", env={"CML_REPORT_CREATE_OUTPUT": "env.md"})
    assert result.exit_code == 0, result.stderr
    assert (project.path / "env.md").is_file() and (project.path / "env_plots").is_dir()


def test_help_starts_with_examples(run_cli):
    result = run_cli("report", "create", "--help")
    assert result.exit_code == 0
    assert "Examples:\n    cml report create && cml comment update report.md\n" in result.stdout


def test_results_committed_on_a_branch_compare_with_main(repo, run_cli):
    make_project(repo, commits=2)
    repo.commit("results of the branch")
    git("checkout", "-q", "-b", "feature", cwd=repo.path)
    write_results(repo, 0.5, 0.9, 0.2, seed=5)
    repo.commit("worse model")

    result = run_cli("report", "create", "--rev", "main")

    assert result.exit_code == 0, result.stderr
    report = (repo.path / "report.md").read_text()
    assert re.search(r"^\| accuracy +\| +0\.81 +\| +0\.5 .*❌ worse", report, re.MULTILINE), report


DVC_YAML = """
plots:
  - Loss:
      x: step
      y:
        dvclive/plots/metrics/train/loss.tsv: loss
        dvclive/plots/metrics/eval/loss.tsv: loss
  - predictions.csv:
      template: confusion
      x: predicted
      y: actual
"""


def test_dvc_yaml_plots_replace_dvclive_curves_and_are_not_drawn_twice(project, run_cli):
    project.write("dvc.yaml", DVC_YAML)
    project.commit("plots in dvc.yaml")
    write_results(project, 0.82, 0.41, 0.05, seed=98)

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    report = (project.path / "report.md").read_text()
    assert headings(report) == ["Metrics", "Params", "Plots", "ROC curve", "Precision-recall curve",
                                "Metric history"]
    plots = report.split("## Plots\n\n", 1)[1].split("\n\n## ", 1)[0]
    titles = [title for title, _ in IMAGE.findall(plots)]
    assert len(titles) == 2 and titles[0] == "Loss" and titles[1].startswith("predictions"), plots
    assert "confusion: skipped: dvc.yaml's plots already draw predictions.csv as a confusion matrix" in result.stderr
    assert all((project.path / link).is_file() for link in images(report))


def test_plot_targets_pick_dvc_plots_and_a_wrong_one_names_the_settings(project, run_cli):
    project.write("dvc.yaml", DVC_YAML)
    project.write("cml.yaml", "report:\n  blocks:\n    - plots: {targets: [Loss]}\n")

    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert len(images((project.path / "report.md").read_text())) == 1

    project.write("cml.yaml", "report:\n  blocks:\n    - plots: {targets: [Accuracy]}\n")
    result = run_cli("report", "create")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: cml.yaml: plots.targets: no plot in dvc.yaml is 'Accuracy'")


def test_plots_compare_with_the_base_and_say_when_the_base_lacks_the_file(project, run_cli):
    from PIL import Image

    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    with_base = Image.open(project.path / "report_plots/confusion_matrix.png").size

    project.git("rm", "-q", "--cached", "predictions.csv")
    project.git("commit", "-qm", "predictions are new on this branch")
    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    for block in ("confusion", "roc", "pr"):
        assert f"cml: warning: {block}: predictions.csv is not at HEAD; nothing to compare with" in result.stderr
    alone = Image.open(project.path / "report_plots/confusion_matrix.png").size
    assert with_base[0] > alone[0] * 1.2  # with the base: the head's matrix and head - base side by side


def test_a_curve_file_linking_out_of_the_project_is_not_read(project, run_cli, tmp_path):
    (tmp_path / "outside.tsv").write_text("step\tsecret\n0\t42\n")
    (project.path / "dvclive/plots/metrics/secret.tsv").symlink_to(tmp_path / "outside.tsv")

    result = run_cli("report", "create")

    assert result.exit_code == 0, result.stderr
    assert re.search(r"plots: dvclive/plots/metrics/secret.tsv is outside the project folder \(.+\): it resolves to "
                     r".+outside.tsv; left out", result.stderr), result.stderr
    assert "secret" not in (project.path / "report.md").read_text()


def test_a_base_predictions_file_that_cannot_be_read_there_leaves_the_plots_without_the_base(project, run_cli):
    project.write("predictions.csv", "actual,predicted\n\"cat,dog\n")
    project.commit("broken predictions on the base")
    write_results(project, accuracy=0.9, loss=0.3, lr=0.01, seed=5)
    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert "cml: warning: confusion: no comparison with HEAD: predictions.csv (at HEAD)" in result.stderr
    assert "](report_plots/confusion_matrix.png)" in (project.path / "report.md").read_text()


def test_predictions_the_plots_cannot_use_leave_them_out_and_the_report_written(project, run_cli):
    project.write("predictions.csv", "actual,score\n1,0.2\n0,nan\n1,0.9\n")
    result = run_cli("report", "create")
    assert result.exit_code == 0, result.stderr
    assert ("cml: warning: confusion: skipped: predictions.csv: has none of the columns predicted, y_pred, pred, "
            "prediction; rename a column to one of them") in result.stderr
    assert "cml: warning: roc: skipped: predictions.csv: " in result.stderr and "--y-" not in result.stderr
    assert "## Metrics" in (project.path / "report.md").read_text()


def test_a_setting_found_wrong_after_the_plots_were_drawn_leaves_no_image(project, run_cli):
    project.write("cml.yaml", "report:\n  blocks:\n    - plots\n    - history: {metrics: [nope]}\n")
    result = run_cli("report", "create")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: cml.yaml: history.metrics: ")
    assert not (project.path / "report_plots").exists() and not (project.path / "report.md").exists()
