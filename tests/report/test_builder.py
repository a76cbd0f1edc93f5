"""The public Python API: ``from cml import Report``."""

import os
from pathlib import Path

import pytest

from cml import Report
from cml.errors import QualityGateFailed, UsageError
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
    written = report.write("out/report.md", raise_on_gates=False)
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


def test_write_fails_on_a_failed_gate_after_writing_the_report_with_the_verdicts(tmp_path):
    report = Report(tmp_path).metrics_diff(base={"acc": 0.9, "loss": 0.5}, head={"acc": 0.8, "loss": 0.5, "f1": 0.7},
                                           fail_on=["change(acc)<-0.05", "value(loss)<1", "f1>5%"])
    with pytest.raises(QualityGateFailed) as failure:
        report.write(tmp_path / "report.md")
    assert failure.value.exit_code == 2
    assert failure.value.failures == ["acc changed by -0.1 (rule 'change(acc)<-0.05')",
                                      "loss is 0.5 (rule 'value(loss)<1')"]
    assert str(failure.value) == (
        "quality gate failed: acc changed by -0.1 (rule 'change(acc)<-0.05'); loss is 0.5 (rule 'value(loss)<1'). "
        f"{tmp_path / 'report.md'} was written; to write without raising, pass raise_on_gates=False "
        "(and call check_gates() later)"
    )
    assert (tmp_path / "report.md").read_text().endswith(
        "| f1       |      — |    0.7 |        — |          — | ➕ added |\n\n"
        "**Quality gates**\n\n"
        "- ❌ `change(acc)<-0.05`: acc changed by -0.1\n"
        "- ❌ `value(loss)<1`: loss is 0.5\n"
        "- ⚠️ `change(f1)>5%`: f1 not checked: no base value\n"
    )
    with pytest.raises(QualityGateFailed):
        report.write_html(tmp_path / "report.html")
    assert (tmp_path / "report.html").is_file()
    assert report.write(tmp_path / "again.md", raise_on_gates=False) == str(tmp_path / "again.md")
    assert report.write_html(tmp_path / "again.html", raise_on_gates=False) == str(tmp_path / "again.html")
    with pytest.raises(QualityGateFailed):
        report.check_gates()


def test_an_ambiguous_rule_is_refused_naming_the_argument(tmp_path):
    with pytest.raises(UsageError, match=r"^fail_on: rule 'acc<0.9' could mean the value or the change; "
                                         r"write value\(acc\)<0.9 for the value"):
        Report(tmp_path).metrics_diff(base={"acc": 1}, head={"acc": 1}, fail_on=["acc<0.9"])


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
