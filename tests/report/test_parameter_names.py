"""Errors from the Python API name the Python parameter at fault; the command line names its option instead."""

import pytest

from cml import Report
from cml.errors import CmlError, UsageError
from cml.report.plots import confusion_matrix
from cml.report.plots.confusion import count_matrix
from cml.trackers import History, RunData
from cml.trackers.sources import RunSource


def tracked_run() -> RunData:
    histories = {"loss": History("loss", [0, 1], [0.9, 0.5])}
    return RunData("run-1", {"lr": 0.1}, {"loss": 0.5}, ["loss"], histories.__getitem__)


def test_a_negative_max_rows_names_max_rows(tmp_path):
    table = tmp_path / "runs.csv"
    table.write_text("run,score\na,1\n")
    with pytest.raises(UsageError) as error:
        Report(tmp_path).table(table, max_rows=-1)
    assert str(error.value) == "max_rows: must be 0 or more"


def test_a_quality_gate_that_matches_no_metric_names_fail_on():
    with pytest.raises(UsageError) as error:
        Report().metrics_diff(base={"accuracy": 0.9}, head={"accuracy": 0.8}, fail_on=["value(f1)<0.5"])
    assert str(error.value) == "fail_on: rule 'value(f1)<0.5' matches no metric; metrics are: accuracy"


def test_plot_errors_name_the_plotting_parameters(tmp_path):
    with pytest.raises(UsageError) as error:
        Report(tmp_path).confusion_matrix(["a", "b"], ["a", "a"], filename="matrix.jpg")
    assert str(error.value) == "filename: 'matrix.jpg' must end in .png, .svg or .pdf"
    with pytest.raises(UsageError) as error:
        confusion_matrix(["a", "b"], ["a", "a"], str(tmp_path / "matrix.jpg"))
    assert error.value.parameter == "output"
    with pytest.raises(UsageError) as error:
        confusion_matrix(["a", "b"], ["a", "a"], str(tmp_path / "matrix.png"), normalize="rows")
    assert str(error.value) == "normalize: 'rows' is not one of true, pred, all"
    with pytest.raises(UsageError) as error:
        count_matrix(["a", "b"], ["a", "a"], max_classes=0)
    assert str(error.value) == "max_classes: must be 1 or more"


def test_run_curves_name_the_metrics_parameter(tmp_path):
    report = Report(tmp_path).run_curves(tracked_run(), ["loss"])
    assert report.markdown(tmp_path) == "![Training curves](training_curves.png)\n"
    with pytest.raises(UsageError) as error:
        Report(tmp_path).run_curves(tracked_run(), ["accuracy"])
    assert str(error.value) == "metrics: run-1 has no metric history 'accuracy'; it has: loss"


def test_run_sources_name_their_fields():
    with pytest.raises(UsageError) as error:
        RunSource(sacred="runs/1", dvclive="dvclive")
    assert str(error.value) == "dvclive: use one run source at a time, not Sacred and dvclive"
    with pytest.raises(UsageError) as error:
        RunSource(mlflow_base_run="abc")
    assert error.value.parameter == "mlflow_base_run"
    assert RunSource(dvclive="dvclive").parameter == "dvclive"


def test_the_command_line_names_the_options_instead(repo, run_cli):
    both = run_cli("metrics", "show", "--sacred", "runs/1", "--dvclive", "dvclive")
    assert both.stderr == "cml: error: --dvclive: use one run source at a time, not Sacred and dvclive\n"
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.commit()
    gate = run_cli("metrics", "diff", "HEAD", "metrics.json", "--fail-on", "value(f1)<0.5")
    assert gate.stderr == "cml: error: --fail-on: rule 'value(f1)<0.5' matches no metric; metrics are: accuracy\n"


def test_a_missing_table_column_is_named_after_the_parameter(tmp_path):
    table = tmp_path / "runs.csv"
    table.write_text("run,score\na,1\n")
    with pytest.raises(CmlError) as error:
        Report(tmp_path).table(table, sort="loss")
    assert str(error.value) == f"{table}: has no column 'loss' (from sort); its columns are: run, score"
