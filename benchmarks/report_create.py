"""Time ``cml report create`` end to end, beside the sequence of single cml commands a CI file runs for the
same report today.

The project is what a DVC + dvclive training job leaves: ``dvc.yaml`` naming the metrics, params and the
training curves (``dvclive/plots/metrics``, 4 curves of 1,000 steps), a 10-metric ``metrics.json``, a
5-class ``predictions.csv`` of 5,000 rows with a probability column per class, and 20 commits of history on
the base branch; the working tree holds a new run. The peer is the hand-written report: ``metrics diff``,
``params diff``, ``plot line --rev`` per curve, ``plot confusion``, ``plot roc``, ``plot pr`` (each with
``--rev`` where the command has it) and ``metrics history``, one process each, as the examples' CI files
ran them before ``report create``.

    python benchmarks/report_create.py            # Markdown table
    python benchmarks/report_create.py --json
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
from pathlib import Path

from measure import CML, paired, run_alone, run_sequence
COMMITS = 20
CLASSES = ("bird", "cat", "dog", "fish", "frog")
SAMPLES = 5000
STEPS = 1000
CURVES = ("train/loss", "eval/loss", "train/accuracy", "eval/accuracy")
BASE = "HEAD"


def _git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


def _write_run(repo: Path, run: int) -> None:
    """The outputs of training run ``run``: metrics, params, curves and predictions that improve a little."""
    generator = random.Random(run)
    skill = 0.6 + 0.01 * run
    metrics = {"accuracy": round(skill, 4), "loss": round(1 - skill, 4), "f1_macro": round(skill - 0.02, 4)}
    metrics.update({f"recall_{label}": round(skill + generator.uniform(-0.05, 0.05), 4) for label in CLASSES})
    metrics.update({"val_loss": round(1.05 - skill, 4), "epochs_run": 10})
    (repo / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (repo / "params.yaml").write_text(f"train:\n  lr: {0.01 / (1 + run % 3)}\n  batch_size: 64\n  epochs: 10\n")
    for curve in CURVES:
        path = repo / "dvclive" / "plots" / "metrics" / f"{curve}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        name = curve.split("/")[1]
        rows = [f"timestamp\tstep\t{name}"]
        for step in range(STEPS):
            progress = 1 - math.exp(-step / 200)
            value = skill * progress if name == "accuracy" else 1.5 - progress * skill
            rows.append(f"{1700000000 + step}\t{step}\t{value + generator.gauss(0, 0.01):.5f}")
        path.write_text("\n".join(rows) + "\n")
    lines = ["actual,predicted," + ",".join(f"prob_{label}" for label in CLASSES)]
    for _ in range(SAMPLES):
        actual = generator.randrange(len(CLASSES))
        weights = [generator.random() for _ in CLASSES]
        weights[actual] += skill * 0.7
        total = sum(weights)
        probabilities = [weight / total for weight in weights]
        predicted = max(range(len(CLASSES)), key=probabilities.__getitem__)
        lines.append(f"{CLASSES[actual]},{CLASSES[predicted]}," + ",".join(f"{p:.4f}" for p in probabilities))
    (repo / "predictions.csv").write_text("\n".join(lines) + "\n")


def make_project(root: Path) -> Path:
    """The project described in the module's docstring, in ``root/project``."""
    repo = root / "project"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "dvc.yaml").write_text("metrics:\n  - metrics.json\nparams:\n  - params.yaml\n"
                                   "plots:\n  - dvclive/plots/metrics:\n      x: step\n")
    for run in range(COMMITS):
        _write_run(repo, run)
        _git("add", "-A", cwd=repo)
        _git("commit", "-qm", f"run {run}", cwd=repo)
    _write_run(repo, COMMITS)
    return repo


def _has_option(command: list[str], option: str, cwd: Path) -> bool:
    completed = subprocess.run([*CML, *command, "--help"], cwd=cwd, capture_output=True, text=True)
    return option in completed.stdout


def peer_commands(repo: Path) -> list[list[str]]:
    """The single commands that write the same report by hand (``--rev`` where the command takes it)."""
    commands = [[*CML, "metrics", "diff", BASE, "--md"], [*CML, "params", "diff", BASE, "--md"]]
    commands += [[*CML, "plot", "line", f"dvclive/plots/metrics/{curve}.tsv", "--rev", BASE, "-o",
                  f"peer_{curve.replace('/', '_')}.png"] for curve in CURVES]
    for kind in ("confusion", "roc", "pr"):
        revision = ["--rev", BASE] if _has_option(["plot", kind], "--rev", repo) else []
        commands.append([*CML, "plot", kind, "predictions.csv", *revision, "-o", f"peer_{kind}.png"])
    if _has_option(["metrics"], "history", repo):
        commands.append([*CML, "metrics", "history", "-n", str(COMMITS), "--md"])
    return commands




def report_create_rows(root: Path, repeat: int) -> list[tuple[str, str, float, float | None]]:
    """``(case, peer, cml seconds, peer seconds)``: ``cml report create`` on the project, and the same report
    written by the single commands."""
    repo = make_project(root)
    create = [*CML, "report", "create", "--rev", BASE]
    run_sequence([create], repo)
    images = (repo / "report.md").read_text().count("![")
    peer = peer_commands(repo)
    cml_seconds, peer_seconds = paired([create], peer, repo, repeat)
    case = (f"report create: dvc.yaml plots ({len(CURVES)} curves × {STEPS:,} steps), metrics, params, "
            f"{len(CLASSES)}-class predictions ({SAMPLES:,} rows), {COMMITS} commits of history: {images} images")
    return [(case, f"{len(peer)} single cml commands writing the same blocks", cml_seconds, peer_seconds)]


def main() -> None:
    run_alone(report_create_rows, __doc__.splitlines()[0], repeat=3)


if __name__ == "__main__":
    main()
