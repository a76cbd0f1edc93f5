"""``cml demo``: the first thing a new user runs, as a real subprocess."""

import json
from pathlib import Path

from tests.conftest import assert_image


def test_demo_writes_metrics_plots_and_reports(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_process("demo", "out")
    assert result.exit_code == 0, result.stderr
    written = result.stdout.split()
    assert written[-2:] == ["out/report.md", "out/report.html"]
    assert all(Path(path).is_file() for path in written)
    metrics = json.loads(Path("out/metrics.json").read_text())
    assert metrics["accuracy"] > 0.9 and set(metrics) == {"accuracy", "f1_macro", "log_loss"}
    report = Path("out/report.md").read_text()
    assert "| accuracy |" in report and "✅ better" in report
    for image in ("confusion_matrix.png", "roc.png", "training.png"):
        assert f"]({image})" in report
        assert_image(Path("out") / image)
    page = Path("out/report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    again = run_process("metrics", "classification", "out/predictions.csv", "--md")
    assert again.exit_code == 0 and "| **accuracy**     |" in again.stdout


def test_demo_into_an_unwritable_place_fails_cleanly(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("taken").write_text("a file, not a folder")
    result = run_process("demo", "taken")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
