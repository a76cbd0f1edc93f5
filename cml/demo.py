"""The embedded demo: a small ML project, with its git history, reported on by ``cml report create``.

Nothing is downloaded. The demo trains a scikit-learn classifier on the digits data bundled with
scikit-learn, commits a few shorter training runs as the base branch's history, leaves a longer
run in the working tree (the pull request), and builds the report with :meth:`cml.Report.standard`,
the same code as ``cml report create``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any

from cml import git
from cml.errors import UsageError
from cml.fileio import write_atomic
from cml.report import Report

#: The base branch's history: one commit per run, trained with BASE_ALPHA for these epochs, oldest first.
HISTORY_EPOCHS = (2, 4, 6, 8, 10)
BASE_ALPHA = 0.01
#: The pull request's run (the working tree): less regularisation, trained longer.
ALPHA = 0.003
EPOCHS = 25
SEED = 0
#: A file only the demo writes: a folder holding it is a previous demo, which the demo may replace.
MARKER = ".cml-demo"
#: Who the demo's commits are by, whatever the user's git configuration says.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "cml demo", "GIT_AUTHOR_EMAIL": "demo@cml.invalid",
                "GIT_COMMITTER_NAME": "cml demo", "GIT_COMMITTER_EMAIL": "demo@cml.invalid"}

DVC_YAML = """\
# The project as DVC describes it: cml reads its metrics, params and plots without DVC installed.
metrics:
  - metrics.json
params:
  - params.yaml
plots:
  - training.csv:
      x: epoch
      y: [train_loss, test_loss]
      title: Log loss per epoch
      y_label: log loss
  - Per-class F1:
      template: bar_horizontal
      x: f1
      y: {class_metrics.csv: digit}
      title: F1 score per digit
"""

#: The report's settings, as a project keeps them (``[tool.cml.report]`` in pyproject.toml works too).
CML_YAML = """\
report:
  title: "cml demo: handwritten digits, alpha 0.01 → 0.003 and 25 epochs"
  fail_on:
    - value(accuracy)<0.9
    - change(accuracy)<-0.01
  history: 20
"""


@dataclass
class DemoResult:
    """Where the demo wrote its files."""

    directory: str
    files: list[str]


@dataclass
class TrainingRun:
    """What one training run leaves in the project."""

    epochs: int
    alpha: float
    metrics: dict[str, float]
    history: list[dict[str, float]]
    predictions: list[dict[str, Any]]
    class_metrics: list[dict[str, Any]]


def _training_runs(alpha: float, snapshots: tuple[int, ...]) -> list[TrainingRun]:
    """One SGD logistic regression (L2 penalty ``alpha``) trained for ``max(snapshots)`` epochs, evaluated after
    each epoch in ``snapshots`` as if each were a run of its own."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.3, stratify=digits.target, random_state=SEED
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.unique(digits.target)
    labels = [str(c) for c in classes]
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=SEED)
    history: list[dict[str, float]] = []
    runs = []
    for epoch in range(1, max(snapshots) + 1):
        order = np.random.default_rng(epoch).permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=classes)
        probabilities = model.predict_proba(x_test)
        predicted = model.predict(x_test)
        history.append({
            "epoch": epoch,
            "train_loss": round(float(log_loss(y_train, model.predict_proba(x_train), labels=classes)), 5),
            "test_loss": round(float(log_loss(y_test, probabilities, labels=classes)), 5),
        })
        if epoch not in snapshots:
            continue
        per_class = f1_score(y_test, predicted, average=None, labels=classes)
        runs.append(TrainingRun(
            epochs=epoch,
            alpha=alpha,
            metrics={
                "accuracy": round(float(accuracy_score(y_test, predicted)), 5),
                "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 5),
                "log_loss": round(float(log_loss(y_test, probabilities, labels=classes)), 5),
            },
            history=list(history),
            predictions=[
                {"actual": int(a), "predicted": int(p), **{f"prob_{c}": round(float(s), 5) for c, s in zip(labels, row)}}
                for a, p, row in zip(y_test, predicted, probabilities)
            ],
            class_metrics=[{"digit": label, "f1": round(float(f1), 4)} for label, f1 in zip(labels, per_class)],
        ))
    return runs


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_run(directory: str, run: TrainingRun) -> None:
    write_atomic(os.path.join(directory, "params.yaml"), f"train:\n  epochs: {run.epochs}\n  alpha: {run.alpha}\n")
    write_atomic(os.path.join(directory, "metrics.json"), json.dumps(run.metrics, indent=2) + "\n")
    write_atomic(os.path.join(directory, "training.csv"), _csv(run.history))
    write_atomic(os.path.join(directory, "predictions.csv"), _csv(run.predictions))
    write_atomic(os.path.join(directory, "class_metrics.csv"), _csv(run.class_metrics))


def _prepare_folder(directory: str) -> None:
    """An empty folder for the demo: a new one, an empty one, or a previous demo (replaced)."""
    if os.path.isdir(directory) and os.listdir(directory):
        if not os.path.isfile(os.path.join(directory, MARKER)):
            raise UsageError(f"{directory} is not empty; name a new folder for the demo's project",
                             parameter="directory")
        shutil.rmtree(directory)
    os.makedirs(directory, exist_ok=True)


def _commit(directory: str, message: str) -> None:
    git.run_git(["add", "--all"], directory)
    git.run_git(["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message], directory,
                env=GIT_IDENTITY)


def run_demo(directory: str | os.PathLike = "cml-demo") -> DemoResult:
    """Build the demo project in ``directory`` and write ``report.md`` and ``report.html`` there.

    The project is a git repository: its ``main`` branch has one commit per shorter training run
    (``HISTORY_EPOCHS``), and the working tree holds the run a pull request would bring (``EPOCHS``).
    """
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise UsageError(f"{directory} is a file; name a folder for the demo's project", parameter="directory")
    base_runs = _training_runs(BASE_ALPHA, HISTORY_EPOCHS)
    head_run, = _training_runs(ALPHA, (EPOCHS,))
    _prepare_folder(directory)
    git.run_git(["init", "--quiet", "--initial-branch=main", directory])
    write_atomic(os.path.join(directory, MARKER), "A project written by `cml demo`; it may replace this folder.\n")
    write_atomic(os.path.join(directory, "dvc.yaml"), DVC_YAML)
    write_atomic(os.path.join(directory, "cml.yaml"), CML_YAML)
    for run in base_runs:
        _write_run(directory, run)
        _commit(directory, f"Train for {run.epochs} epochs")
    _write_run(directory, head_run)

    report = Report.standard(os.path.join(directory, "report_plots"), rev="main", cwd=directory)
    report.write(os.path.join(directory, "report.md"), raise_on_gates=False)
    report.write_html(os.path.join(directory, "report.html"), raise_on_gates=False)
    names = ["dvc.yaml", "cml.yaml", "params.yaml", "metrics.json", "training.csv", "predictions.csv", "class_metrics.csv"]
    files = [os.path.join(directory, name) for name in names] + report.image_paths()
    return DemoResult(directory, [*files, os.path.join(directory, "report.md"), os.path.join(directory, "report.html")])
