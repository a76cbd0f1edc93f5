"""The embedded demo: train a small classifier on data bundled with scikit-learn and report on it.

Nothing is downloaded. The report is built with the public :class:`cml.Report`
API, the same blocks the CLI commands use.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass

from cml.fileio import write_atomic
from cml.report import Report

EPOCHS = 25
SEED = 0


@dataclass
class DemoResult:
    """Where the demo wrote its files."""

    directory: str
    files: list[str]


def _training_run():
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.naive_bayes import GaussianNB
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.3, stratify=digits.target, random_state=SEED
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.unique(digits.target)

    def evaluate(model) -> dict:
        probabilities = model.predict_proba(x_test)
        predicted = model.predict(x_test)
        return {
            "accuracy": float(accuracy_score(y_test, predicted)),
            "f1_macro": float(f1_score(y_test, predicted, average="macro")),
            "log_loss": float(log_loss(y_test, probabilities, labels=classes)),
        }

    baseline = evaluate(GaussianNB().fit(x_train, y_train))
    model = SGDClassifier(loss="log_loss", alpha=1e-3, random_state=SEED)
    history = []
    for epoch in range(1, EPOCHS + 1):
        order = np.random.default_rng(epoch).permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=classes)
        history.append({
            "epoch": epoch,
            "train_loss": float(log_loss(y_train, model.predict_proba(x_train), labels=classes)),
            "test_loss": float(log_loss(y_test, model.predict_proba(x_test), labels=classes)),
            "train_accuracy": float(accuracy_score(y_train, model.predict(x_train))),
            "test_accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        })
    return baseline, evaluate(model), history, y_test, model.predict(x_test), model.predict_proba(x_test), classes


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run_demo(directory: str | os.PathLike = "cml-demo") -> DemoResult:
    """Train, evaluate and write metrics, plots, ``report.md`` and ``report.html`` into ``directory``."""
    directory = os.fspath(directory)
    baseline, metrics, history, y_test, predicted, probabilities, classes = _training_run()
    labels = [str(c) for c in classes]
    path = lambda name: os.path.join(directory, name)  # noqa: E731

    write_atomic(path("metrics.json"), json.dumps(metrics, indent=2) + "\n")
    write_atomic(path("baseline_metrics.json"), json.dumps(baseline, indent=2) + "\n")
    write_atomic(path("training.csv"), _csv(history))
    predictions = [
        {"actual": int(a), "predicted": int(p), **{f"prob_{c}": round(float(s), 6) for c, s in zip(labels, row)}}
        for a, p, row in zip(y_test, predicted, probabilities)
    ]
    write_atomic(path("predictions.csv"), _csv(predictions))

    report = (
        Report(directory)
        .heading("cml demo: handwritten digits", 1)
        .text(
            f"An SGD logistic-regression classifier trained for {EPOCHS} epochs on scikit-learn's bundled "
            f"digits data ({len(y_test)} test images, {len(labels)} classes), compared with a "
            "Gaussian naive Bayes baseline."
        )
        .heading("Metrics against the baseline")
        .metrics_diff(base=baseline, head=metrics, base_label="baseline (naive Bayes)", head_label="SGD classifier",
                      show_all=True)
        .heading("Per-class results")
        .classification([str(v) for v in y_test], [str(v) for v in predicted], labels)
        .heading("Confusion matrix")
        .confusion_matrix([str(v) for v in y_test], [str(v) for v in predicted], labels, filename="confusion_matrix.png")
        .heading("ROC curves (one-vs-rest)")
        .roc([str(v) for v in y_test], {label: probabilities[:, i] for i, label in enumerate(labels)}, filename="roc.png")
        .heading("Training curves")
        .line(
            {"train loss": [h["train_loss"] for h in history], "test loss": [h["test_loss"] for h in history]},
            x=[h["epoch"] for h in history], title="Log loss per epoch", filename="training.png",
            x_label="epoch", y_label="log loss",
        )
    )
    report.write(path("report.md"))
    report.write_html(path("report.html"))
    names = ["metrics.json", "baseline_metrics.json", "training.csv", "predictions.csv",
             "confusion_matrix.png", "roc.png", "training.png", "report.md", "report.html"]
    return DemoResult(directory, [path(name) for name in names])
