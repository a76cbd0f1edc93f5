"""The public Python API: ``from cml import Report``."""

import os
from pathlib import Path

import pytest

from cml import Report
from cml.errors import QualityGateFailed
from tests.conftest import assert_image


def test_report_from_a_training_script(repo):
    repo.write("metrics.json", '{"accuracy": 0.8, "loss": 0.4}')
    repo.commit()
    repo.write("metrics.json", '{"accuracy": 0.85, "loss": 0.45}')
    repo.write("runs.csv", "run,score\na,1\nb,3\nc,2\n")
    report = (
        Report("out/plots")
        .heading("Training", 1)
        .metrics_diff("HEAD", ["metrics.json"], fail_on=["loss>5%"])
        .table("runs.csv", sort="score", descending=True, max_rows=2)
        .confusion_matrix(["a", "b", "b"], ["a", "b", "a"])
        .roc(["0", "1", "1", "0"], [0.1, 0.9, 0.7, 0.4])
        .line({"loss": [1.0, 0.5, 0.2]}, title="Loss")
        .line([3, 2, 1], title="Loss")
        .image("runs.csv", "raw data")
    )
    written = report.write("out/report.md")
    assert written == "out/report.md"
    text = Path("out/report.md").read_text()
    assert text.startswith("# Training\n\n| Path         | Metric   |   HEAD |   workspace |")
    assert "| metrics.json | loss     |    0.4 |        0.45 |" in text
    assert "|       3 |\n|       2 |\n\n… 1 more row" in text.replace("| b     ", "").replace("| c     ", "")
    assert "![Confusion matrix](plots/confusion_matrix.png)" in text
    assert "![ROC curve](plots/roc_curve.png)" in text
    assert "![Loss](plots/loss.png)" in text and "![Loss](plots/loss_2.png)" in text
    assert "![raw data](../runs.csv)" in text
    for name in ("confusion_matrix.png", "roc_curve.png", "loss.png", "loss_2.png"):
        assert_image(Path("out/plots") / name)
    assert report.gate_failures == ["metrics.json:loss changed by +12.50% (rule 'loss>5%')"]
    with pytest.raises(QualityGateFailed) as failure:
        report.check_gates()
    assert failure.value.exit_code == 2


def test_metrics_diff_of_two_runs_in_memory(tmp_path):
    report = Report(tmp_path).metrics_diff(
        base={"val": {"acc": 0.5}}, head={"val": {"acc": 0.6}}, base_label="v1", head_label="v2"
    )
    assert report.markdown() == (
        "| Metric   |   v1 |   v2 |   Change |   Change % | Status    |\n"
        "|:---------|-----:|-----:|---------:|-----------:|:----------|\n"
        "| val.acc  |  0.5 |  0.6 |     +0.1 |    +20.00% | ✅ better |\n"
    )
    report.check_gates()


def test_metrics_table_and_classification_and_records(tmp_path):
    text = (
        Report(tmp_path)
        .metrics({"f1": 0.5, "nested": {"n": 3}})
        .table([{"a": 1, "b": None}])
        .classification(["x", "y"], ["x", "x"])
        .markdown()
    )
    assert "| f1       |     0.5 |" in text and "| nested.n |       3 |" in text
    assert "|   a |   b |\n|----:|----:|\n|   1 |     |" in text
    assert "| x                |       0.500 |    1.000 | 0.667 |         1 |" in text


def test_write_html_is_self_contained(tmp_path):
    report = Report(tmp_path / "img").text("# Hi").confusion_matrix([1, 2], [1, 1])
    page = Path(report.write_html(tmp_path / "r.html")).read_text()
    assert "data:image/png;base64," in page
    assert not os.path.exists(tmp_path / "r.md")


def test_report_is_importable_without_loading_matplotlib():
    import subprocess
    import sys

    probe = "import sys, cml; cml.Report; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "False False\n"


def test_many_classes_through_the_api_are_bounded_and_say_so(tmp_path):
    actual = [f"c{i % 3000}" for i in range(12_000)]
    predicted = [f"c{(i * 7) % 3000}" for i in range(12_000)]
    text = Report(tmp_path).classification(actual, predicted).confusion_matrix(actual, predicted).markdown()
    assert "| other (2,900 classes) |" in text
    assert "This table shows the 100 most frequent of 3,000 classes; the other 2,900 are summed" in text
    assert_image(tmp_path / "confusion_matrix.png", 1000, 1000)
