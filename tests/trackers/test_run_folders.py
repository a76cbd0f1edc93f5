"""Sacred run folders and dvclive output folders, produced by Sacred and dvclive themselves, as report sources."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

from tests.conftest import assert_image

SACRED_TRAINING = """
import sys
from sacred import Experiment
from sacred.observers import FileStorageObserver

ex = Experiment("train", save_git_info=False)
ex.observers.append(FileStorageObserver("runs"))

@ex.config
def config():
    lr = 0.1
    model = {"depth": 3}
    seed = 7

@ex.main
def main(_run, lr):
    for step in range(50):
        _run.log_scalar("loss", 10 * lr / (step + 1), step)
    _run.log_scalar("accuracy", 0.5 + lr)
    return 0.5 + lr

ex.run(config_updates={"lr": float(sys.argv[1])})
"""

DVCLIVE_TRAINING = """
import sys
from dvclive import Live

lr = float(sys.argv[1])
with Live("dvclive", save_dvc_exp=False, dvcyaml=None) as live:
    live.log_param("lr", lr)
    live.log_param("model", {"depth": 3})
    for step in range(20):
        live.log_metric("train/loss", 10 * lr / (step + 1))
        live.log_metric("accuracy", 0.5 + lr * step / 20)
        live.next_step()
    live.log_sklearn_plot("confusion_matrix", [0, 1, 1, 0, 1], [0, 1, 0, 0, 1])
"""


def train(repo, script: str, lr: float, output: str) -> None:
    repo.write("train.py", textwrap.dedent(script))
    shutil.rmtree(repo.path / output, ignore_errors=True)
    subprocess.run([sys.executable, "train.py", str(lr)], cwd=repo.path, check=True, capture_output=True)


def retrained(repo, script: str, output: str) -> None:
    """A baseline training (lr 0.1) committed, then a new training (lr 0.2) in the working tree."""
    repo.write("README.md", "x\n")
    repo.commit("start")
    train(repo, script, 0.1, output)
    repo.commit("baseline training")
    train(repo, script, 0.2, output)


def test_sacred_run_folder_show_diff_and_curves(repo, run_cli):
    retrained(repo, SACRED_TRAINING, "runs")

    shown = run_cli("metrics", "show", "--sacred", "runs/1", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == {"sacred:train/1": {"accuracy": 0.7, "loss": 2 / 50, "result": 0.7}}

    diff = run_cli("metrics", "diff", "HEAD", "--sacred", "runs/1", "--json")
    changes = json.loads(diff.stdout)["sacred:train/1"]
    assert changes["accuracy"] == {"old": 0.6, "new": 0.7, "diff": 0.1, "relative": 1 / 6, "status": "better",
                                   "direction": "higher"}
    assert changes["loss"]["status"] == "worse"

    params = run_cli("params", "diff", "HEAD", "--sacred", "runs/1", "--json")
    assert json.loads(params.stdout)["sacred:train/1"] == {"lr": {"old": 0.1, "new": 0.2, "diff": 0.1,
                                                                  "relative": 1.0, "status": "changed"}}

    curve = run_cli("plot", "line", "--sacred", "runs/1", "-y", "loss", "--rev", "HEAD", "-o", "loss.png")
    assert curve.exit_code == 0, curve.stderr
    assert_image(repo.path / "loss.png")


def test_dvclive_folder_show_diff_curves_and_plots(repo, run_cli):
    retrained(repo, DVCLIVE_TRAINING, "dvclive")

    shown = run_cli("params", "show", "--dvclive", "dvclive", "--json")
    assert json.loads(shown.stdout) == {"dvclive": {"lr": 0.2, "model.depth": 3}}

    diff = run_cli("metrics", "diff", "HEAD", "--dvclive", "dvclive", "--md")
    assert diff.exit_code == 0, diff.stderr
    rows = {line.split("|")[2].strip(): line for line in diff.stdout.splitlines()[2:] if line}
    assert set(rows) == {"train.loss", "accuracy"}
    assert "better" in rows["accuracy"] and "worse" in rows["train.loss"]

    curve = run_cli("plot", "line", "--dvclive", "dvclive", "--rev", "HEAD", "-o", "curves.png")
    assert curve.exit_code == 0, curve.stderr
    assert_image(repo.path / "curves.png")
    confusion = run_cli("plot", "confusion", "--dvclive", "dvclive", "-o", "cm.png")
    assert confusion.exit_code == 0, confusion.stderr
    assert_image(repo.path / "cm.png", 100, 100)
    no_roc = run_cli("plot", "roc", "--dvclive", "dvclive")
    assert no_roc.exit_code == 1 and "--dvclive: dvclive/plots/sklearn/roc.json does not exist" in no_roc.stderr


def test_python_api_reads_folders_at_revisions(repo):
    from cml import Report
    from cml.trackers.sources import dvclive_run

    retrained(repo, DVCLIVE_TRAINING, "dvclive")

    head, base = dvclive_run("dvclive"), dvclive_run("dvclive", revision="HEAD")
    assert head.history_names == ["accuracy", "train/loss"]
    assert base.history("train/loss").values[0] == 1.0 and head.history("train/loss").values[0] == 2.0
    text = Report(repo.path / "report").run_metrics(head, base=base).run_curves(head, ["train/*"], base=base).markdown()
    assert "accuracy" in text and "![Training curves]" in text


def test_folder_errors(repo, run_cli):
    repo.write("README.md", "x\n")
    repo.commit("start")
    missing = run_cli("metrics", "show", "--sacred", "runs/9")
    assert missing.exit_code == 1 and "runs/9: no such Sacred run folder" in missing.stderr
    repo.write("runs/1/config.json", "{not json")
    broken = run_cli("params", "show", "--sacred", "runs/1")
    assert broken.exit_code == 1 and "runs/1/config.json:1: not valid JSON" in broken.stderr
    not_at_base = run_cli("metrics", "diff", "HEAD", "--sacred", "runs/1")
    assert not_at_base.exit_code == 1 and "runs/1 is not in HEAD" in not_at_base.stderr
    both = run_cli("metrics", "show", "--sacred", "runs/1", "--dvclive", "dvclive")
    assert both.exit_code == 1 and "use one run source at a time" in both.stderr
