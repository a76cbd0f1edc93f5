"""A small but complete ML project in a real git repository, as ``cml report create`` finds one in CI."""

from __future__ import annotations

import json
import random

from tests.conftest import GitRepo

CURVE_HEADER = "timestamp\tstep\t{metric}\n"


def curve(metric: str, values: list[float]) -> str:
    return CURVE_HEADER.format(metric=metric) + "".join(f"{1700000000 + step}\t{step}\t{value}\n"
                                                        for step, value in enumerate(values))


def predictions(seed: int, samples: int = 300, noise: float = 0.45) -> str:
    """Binary predictions with a score column: labels 0/1, the score higher for 1s."""
    generator = random.Random(seed)
    rows = ["actual,predicted,score"]
    for _ in range(samples):
        actual = generator.randint(0, 1)
        score = min(max(0.25 + 0.5 * actual + generator.uniform(-noise, noise), 0.0), 1.0)
        rows.append(f"{actual},{int(score >= 0.5)},{score:.4f}")
    return "\n".join(rows) + "\n"


def write_results(repo: GitRepo, accuracy: float, loss: float, lr: float, seed: int, history: int = 0) -> None:
    repo.write("metrics.json", json.dumps({"accuracy": accuracy, "loss": loss}))
    repo.write("params.yaml", f"train:\n  lr: {lr}\n  epochs: 3\n")
    repo.write("predictions.csv", predictions(seed))
    repo.write("dvclive/plots/metrics/train/loss.tsv", curve("loss", [1.0, 0.7 - history / 100, loss]))
    repo.write("dvclive/plots/metrics/eval/loss.tsv", curve("loss", [1.1, 0.8, loss + 0.1]))
    repo.write("dvclive/plots/metrics/accuracy.tsv", curve("accuracy", [0.5, 0.7, accuracy]))


def make_project(repo: GitRepo, commits: int = 4) -> GitRepo:
    """``commits`` commits of results on main, then the working tree's new results (a pull request's)."""
    for index in range(commits):
        write_results(repo, round(0.70 + index / 100, 4), round(0.6 - index / 100, 4), 0.1, seed=index,
                      history=index)
        repo.commit(f"train {index}")
    write_results(repo, 0.81, 0.42, 0.05, seed=99, history=commits)
    return repo
