"""Time ``cml plot dvc`` on a DVC project with 10 plot definitions, beside DVC reading the same definitions.

DVC renders plots only as Vega/HTML, so its peer here is its data side: ``dvc plots show --json`` (every
definition resolved and every file read, the Vega specs filled in) and, for the base overlay,
``dvc plots diff HEAD --json``. cml does that and draws every PNG.

    python benchmarks/dvc_plots.py            # Markdown table
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from measure import CML, paired, run_alone
DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")

#: Ten definitions covering the seven templates: dvclive's folder (4 metric files of 1,000 steps), a multi-file
#: comparison, a confusion matrix of 10,000 samples (plain and normalised), PR and ROC curves, 5,000 scatter
#: points, two bar plots and a smoothed stage output.
DVC_YAML = """\
plots:
  - dvclive/plots/metrics:
      x: step
  - Loss comparison:
      y:
        logs/train.csv: loss
        logs/val.csv: [loss, accuracy]
      x: step
      y_label: loss
  - eval/confusion.json:
      template: confusion
      x: actual
      y: predicted
  - Normalized confusion:
      template: confusion_normalized
      x: {eval/confusion.json: actual}
      y: {eval/confusion.json: predicted}
  - Precision-Recall:
      template: simple
      x: recall
      y:
        eval/prc.json: precision
  - eval/predictions.csv:
      template: scatter
      x: actual
      y: predicted
  - eval/importance.csv:
      template: bar_horizontal_sorted
      x: importance
      y: feature
  - eval/importance_by_group.csv:
      template: bar_horizontal
      x: importance
      y: group
  - eval/roc.json:
      x: fpr
      y: tpr
      title: ROC
stages:
  evaluate:
    cmd: python evaluate.py
    wdir: eval
    plots:
      - smooth.csv:
          template: smooth
          x: step
          y: val_loss
"""


def _write(repo: Path, shift: float) -> None:
    rng = random.Random(int(shift * 1000))
    steps = 1000
    metrics = repo / "dvclive" / "plots" / "metrics"
    for name in ("train/loss", "train/accuracy", "eval/loss", "eval/accuracy"):
        path = metrics / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        metric = name.rsplit("/", 1)[1]
        path.write_text(f"timestamp\tstep\t{metric}\n" + "".join(
            f"{1_700_000_000 + s}\t{s}\t{math.exp(-s / (300 + 500 * shift)) + rng.gauss(0, 0.01):.5f}\n"
            for s in range(steps)))
    (repo / "logs").mkdir(exist_ok=True)
    for name in ("train", "val"):
        (repo / "logs" / f"{name}.csv").write_text("step,loss,accuracy\n" + "".join(
            f"{s},{math.exp(-s / 200) + shift:.5f},{1 - math.exp(-s / 150) * 0.5:.5f}\n" for s in range(steps)))
    (repo / "eval").mkdir(exist_ok=True)
    classes = [f"class{i}" for i in range(10)]
    records = []
    for _ in range(10_000):
        actual = rng.choice(classes)
        records.append({"actual": actual, "predicted": actual if rng.random() < 0.8 + shift else rng.choice(classes)})
    (repo / "eval" / "confusion.json").write_text(json.dumps(records))
    (repo / "eval" / "prc.json").write_text(json.dumps({"prc": [
        {"recall": r / 500, "precision": 1 - (r / 500) ** (2 + shift * 5) * 0.5} for r in range(501)]}))
    (repo / "eval" / "predictions.csv").write_text("actual,predicted\n" + "".join(
        f"{a:.4f},{a + rng.gauss(0, 1 - shift):.4f}\n" for a in (rng.uniform(0, 10) for _ in range(5000))))
    (repo / "eval" / "importance.csv").write_text("feature,importance\n" + "".join(
        f"feature_{i},{abs(math.sin(i + shift)):.4f}\n" for i in range(30)))
    (repo / "eval" / "importance_by_group.csv").write_text("group,importance\n" + "".join(
        f"group_{i},{abs(math.cos(i + shift)):.4f}\n" for i in range(8)))
    (repo / "eval" / "roc.json").write_text(json.dumps({"roc": [
        {"fpr": f / 500, "tpr": min(1.0, (f / 500) ** (0.3 + shift))} for f in range(501)]}))
    (repo / "eval" / "smooth.csv").write_text("step,val_loss\n" + "".join(
        f"{s},{math.exp(-s / 300) + rng.gauss(0, 0.05):.5f}\n" for s in range(steps)))


def make_dvc_plots_repo(root: Path) -> Path:
    """A git and DVC repository whose dvc.yaml defines 10 plots, committed, then every plot's data changed."""
    repo = root / "dvc-plots-repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    if DVC:
        subprocess.run([DVC, "init", "-q"], cwd=repo, check=True, capture_output=True)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    _write(repo, 0.0)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=repo, check=True, env=env)
    _write(repo, 0.05)
    return repo




def dvc_plot_rows(root: Path, repeat: int) -> list[tuple[str, str, float, float | None]]:
    """``(case, peer, cml seconds, peer seconds)`` rows: ``cml plot dvc`` on 10 definitions (13 images) without and
    with the base overlaid, beside DVC reading the same definitions (``None`` without DVC)."""
    repo = make_dvc_plots_repo(root)
    check = subprocess.run([*CML, "plot", "dvc", "-o", "check"], cwd=repo, capture_output=True, text=True)
    if check.returncode:
        raise SystemExit(f"cml plot dvc failed:\n{check.stderr}")
    images = len(check.stdout.strip().splitlines())
    rows: list[tuple[str, str, float, float | None]] = []
    cml, peer = paired([[*CML, "plot", "dvc", "-o", "out"]], [[DVC, "plots", "show", "--json"]] if DVC else None,
                       repo, repeat)
    rows.append((f"plot dvc, 10 definitions ({images} PNGs, 7 templates)", "dvc plots show --json (data only, no images)",
                 cml, peer))
    cml, peer = paired([[*CML, "plot", "dvc", "--rev", "HEAD", "-o", "out"]],
                       [[DVC, "plots", "diff", "HEAD", "--json"]] if DVC else None, repo, repeat)
    rows.append((f"plot dvc --rev HEAD, 10 definitions ({images} PNGs, base overlaid)",
                 "dvc plots diff HEAD --json (data only, no images)", cml, peer))
    return rows


def main() -> None:
    run_alone(dvc_plot_rows, __doc__.splitlines()[0], repeat=3)


if __name__ == "__main__":
    main()
