"""MLflow runs as report sources, read from a real tracking server through its REST API."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import assert_image


def log_run(client, experiment_id: str, sha: str, accuracy: float, loss: list[float], lr: float, name: str):
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, tags={"mlflow.source.git.commit": sha}, run_name=name)
    run_id = run.info.run_id
    metrics = [Metric("loss", value, 1_700_000_000_000 + step, step) for step, value in enumerate(loss)]
    metrics.append(Metric("accuracy", accuracy, 1_700_000_100_000, len(loss)))
    client.log_batch(run_id, metrics=metrics, params=[Param("lr", str(lr)), Param("optimizer", "adam")])
    client.set_terminated(run_id)
    return run_id


@pytest.fixture
def experiment(mlflow_client, repo, tmp_path):
    """A repository with a base commit (main) and a head commit (feature), and one run logged from each."""
    repo.write("train.py", "print('v1')\n")
    base_sha = repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")
    repo.write("train.py", "print('v2')\n")
    head_sha = repo.commit("head")
    name = f"train-{uuid.uuid4().hex[:8]}"
    experiment_id = mlflow_client.create_experiment(name)
    base_run = log_run(mlflow_client, experiment_id, base_sha, 0.80, [1.0, 0.7, 0.5], 0.1, "baseline")
    head_run = log_run(mlflow_client, experiment_id, head_sha, 0.85, [0.9, 0.5, 0.3, 0.25], 0.05, "candidate")
    image = tmp_path / "confusion.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 4))
    axes.imshow([[5, 1], [2, 7]])
    figure.savefig(image)
    plt.close(figure)
    mlflow_client.log_artifact(head_run, str(image), artifact_path="plots")
    return {"name": name, "base": base_run, "head": head_run, "image": image.read_bytes()}


def test_metrics_and_params_of_a_run(experiment, run_cli):
    metrics = run_cli("metrics", "show", "--mlflow-run", experiment["head"], "--json")
    params = run_cli("params", "show", "--mlflow-run", experiment["head"], "--md")

    assert metrics.exit_code == 0, metrics.stderr
    label = f"mlflow:candidate ({experiment['head'][:8]})"
    assert json.loads(metrics.stdout) == {label: {"accuracy": 0.85, "loss": 0.25}}
    assert "| lr" in params.stdout and "0.05" in params.stdout and "adam" in params.stdout


def test_diff_finds_both_runs_by_the_commits_they_were_logged_from(experiment, run_cli):
    result = run_cli("metrics", "diff", "main", "--mlflow-experiment", experiment["name"], "--md")

    assert result.exit_code == 0, result.stderr
    lines = {line.split("|")[2].strip(): line for line in result.stdout.splitlines()[2:] if line}
    assert "0.8" in lines["accuracy"] and "0.85" in lines["accuracy"] and "better" in lines["accuracy"]
    assert "0.5" in lines["loss"] and "0.25" in lines["loss"] and "better" in lines["loss"]
    assert f"baseline ({experiment['base'][:8]})" in result.stdout.splitlines()[0]

    params = run_cli("params", "diff", "main", "--mlflow-experiment", experiment["name"], "--json")
    assert json.loads(params.stdout)[f"mlflow:candidate ({experiment['head'][:8]})"]["lr"]["old"] == 0.1


def test_diff_of_two_runs_with_a_quality_gate(experiment, run_cli):
    result = run_cli("metrics", "diff", "--mlflow-run", experiment["base"], "--mlflow-base-run", experiment["head"],
                     "--fail-on", "accuracy<-0.01")

    assert result.exit_code == 2
    assert "accuracy changed by -0.05 (rule 'accuracy<-0.01')" in result.stderr


def test_training_curve_from_a_metric_history_with_the_base_run_overlaid(experiment, run_cli, tmp_path):
    output = tmp_path / "loss.png"
    result = run_cli("plot", "line", "--mlflow-experiment", experiment["name"], "-y", "loss", "--rev", "main",
                     "-o", str(output))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().startswith("![")
    assert_image(output)


def test_artifacts_download_into_the_report(experiment, run_cli, tmp_path):
    result = run_cli("mlflow", "download", "--run", experiment["head"], "--md", "-o", str(tmp_path / "report"),
                     "--report", str(tmp_path / "report" / "report.md"))

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![confusion.png](plots/confusion.png)\n\n"
    assert (tmp_path / "report" / "plots" / "confusion.png").read_bytes() == experiment["image"]
    again = run_cli("mlflow", "download", "--run", experiment["head"], "--md", "-o", str(tmp_path / "report"),
                    env={"CML_REPORT": str(tmp_path / "docs" / "report.md")})
    assert again.stdout == "![confusion.png](../report/plots/confusion.png)\n\n"


def test_python_api(experiment, tmp_path):
    from cml import Report
    from cml.trackers.sources import mlflow_run

    head, base = mlflow_run(experiment["head"]), mlflow_run(experiment["base"])
    assert head.history("loss").values == [0.9, 0.5, 0.3, 0.25]
    report = Report(tmp_path).run_metrics(head, base=base).run_params(head).run_curves(head, ["loss"], base=base)
    text = report.markdown()
    assert "accuracy" in text and "lr" in text and "![" in text


@pytest.mark.parametrize("args, message", [
    (["metrics", "show", "--mlflow-run", "0" * 32], "reading run 00000000000000000000000000000000"),
    (["metrics", "diff", "main", "--mlflow-experiment", "no-such-experiment"], "finding experiment 'no-such-experiment'"),
    (["metrics", "diff", "main", "--mlflow-run", "abc"], "--mlflow-run: to compare an MLflow run, also pass"),
    (["plot", "line", "--mlflow-run", "HEAD_RUN", "-y", "nope"], "-y: mlflow:candidate"),
])
def test_errors_are_one_line(experiment, run_cli, args, message):
    args = [experiment["head"] if a == "HEAD_RUN" else a for a in args]
    result = run_cli(*args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_commit_without_a_run_and_a_server_that_does_not_answer(experiment, repo, run_cli, monkeypatch):
    repo.write("train.py", "print('v3')\n")
    repo.commit("untracked training")
    missing = run_cli("metrics", "diff", "main", "--mlflow-experiment", experiment["name"])
    assert missing.exit_code == 1
    assert f"experiment '{experiment['name']}' has no run logged from commit" in missing.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("CML_HTTP_ATTEMPTS", "1")
    down = run_cli("metrics", "show", "--mlflow-run", experiment["head"])
    assert down.exit_code == 1
    assert "the server does not answer; check MLFLOW_TRACKING_URI" in down.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
    local = run_cli("metrics", "show", "--mlflow-run", experiment["head"])
    assert "is not a tracking server" in local.stderr
