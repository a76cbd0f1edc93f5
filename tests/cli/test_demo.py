"""``cml demo``: the first thing a new user runs, as a real subprocess."""

import json
import subprocess
from pathlib import Path

from tests.conftest import assert_image


def test_demo_builds_a_project_with_history_and_reports_on_it(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_process("demo", "out")
    assert result.exit_code == 0, result.stderr
    written = result.stdout.split()
    assert written[-2:] == ["out/report.md", "out/report.html"]
    assert all(Path(path).is_file() for path in written)
    metrics = json.loads(Path("out/metrics.json").read_text())
    assert metrics["accuracy"] > 0.9 and set(metrics) == {"accuracy", "f1_macro", "log_loss"}
    log = subprocess.run(["git", "log", "--format=%s", "main"], cwd="out", capture_output=True, text=True, check=True)
    assert log.stdout.splitlines() == [f"Train for {epochs} epochs" for epochs in (10, 8, 6, 4, 2)]
    report = Path("out/report.md").read_text()
    assert report.startswith("# cml demo: handwritten digits")
    assert "| accuracy |" in report and "✅ better" in report and "❌ worse" in report
    assert "✅ `value(accuracy)<0.9`: passed" in report
    assert "| train.alpha  |   0.01 |       0.003 |" in report
    assert "## Metric history" in report and "`▁" in report
    images = ["training.png", "per_class_f1.png", "confusion_matrix.png", "roc_curve.png", "precision_recall.png"]
    for image in images:
        assert f"](report_plots/{image})" in report
        assert_image(Path("out/report_plots") / image)
    page = Path("out/report.html").read_text()
    assert page.count("data:image/png;base64,") == len(images)
    again = run_process("metrics", "classification", "out/predictions.csv", "--md")
    assert again.exit_code == 0 and "| **accuracy**     |" in again.stdout


def test_a_second_demo_replaces_the_first_but_never_a_folder_of_the_user(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_process("demo", "out").exit_code == 0
    again = run_process("demo", "out")
    assert again.exit_code == 0, again.stderr
    Path("mine").mkdir()
    Path("mine/notes.txt").write_text("keep me")
    refused = run_process("demo", "mine")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        "cml: error: DIRECTORY: mine is not empty; name a new folder for the demo's project"]
    assert Path("mine/notes.txt").read_text() == "keep me"


def test_demo_into_an_unwritable_place_fails_cleanly(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("taken").write_text("a file, not a folder")
    result = run_process("demo", "taken")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
