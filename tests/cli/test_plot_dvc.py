"""``cml plot dvc``: dvc.yaml's plots as PNGs with the base overlaid, one Markdown line each."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import assert_image

DVC_YAML = """
plots:
  - logs:
      x: step
  - Losses:
      y:
        train.csv: loss
        val.csv: loss
      x: step
      title: Training and validation loss
  - eval/confusion.json:
      template: confusion
      x: actual
      y: predicted
"""


def write(repo, shift: float) -> None:
    repo.write("logs/acc.tsv", "step\tacc\n" + "".join(f"{s}\t{0.5 + s / 40 + shift}\n" for s in range(20)))
    for name in ("train", "val"):
        repo.write(f"{name}.csv", "step,loss\n" + "".join(f"{s},{1 / (s + 1) + shift}\n" for s in range(20)))
    records = [{"actual": str(i % 3), "predicted": str(i % 3 if i % 4 else (i + 1) % 3)} for i in range(60 + int(shift * 100))]
    repo.write("eval/confusion.json", json.dumps(records))


def project(repo):
    repo.write("dvc.yaml", DVC_YAML)
    write(repo, 0.0)
    repo.commit("base")
    write(repo, 0.1)
    return repo


def test_prints_an_image_line_per_plot_with_the_base(repo, run_cli):
    project(repo)
    result = run_cli("plot", "dvc", "--rev", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ("![logs/acc](dvc_plots/logs_acc.png)\n"
                             "![Training and validation loss](dvc_plots/losses.png)\n"
                             "![eval/confusion](dvc_plots/eval_confusion.png)\n\n")
    assert result.stderr == ""
    for name in ("logs_acc", "losses", "eval_confusion"):
        assert_image(repo.path / "dvc_plots" / f"{name}.png")


def test_targets_output_dir_and_report(repo, run_cli):
    project(repo)
    result = run_cli("plot", "dvc", "--targets", "Losses", "--targets", "logs", "-o", "plots/dvc",
                     "--report", "plots/report.md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Training and validation loss](dvc/losses.png)\n![logs/acc](dvc/logs_acc.png)\n\n"
    assert sorted(path.name for path in (repo.path / "plots/dvc").iterdir()) == ["logs_acc.png", "losses.png"]


def test_targets_from_the_environment(repo, run_cli):
    project(repo)
    result = run_cli("plot", "dvc", env={"CML_PLOT_DVC_TARGETS": "eval/confusion.json"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![eval/confusion](dvc_plots/eval_confusion.png)\n\n"


def test_warnings_go_to_stderr(repo, run_cli):
    project(repo)
    repo.write("dvc.yaml", DVC_YAML + "  - missing.csv\n")
    repo.write("new.csv", "step,x\n0,1\n")
    result = run_cli("plot", "dvc", "--rev", "HEAD", "--targets", "missing.csv", "--targets", "Losses")
    assert result.exit_code == 0, result.stderr
    assert "plot 'missing.csv': missing.csv is not in the working tree; skipped" in result.stderr
    assert "plot 'Losses' is not in dvc.yaml at HEAD" not in result.stderr
    assert result.stdout == "![Training and validation loss](dvc_plots/losses.png)\n\n"


def test_errors_are_one_line_saying_what_to_do(repo, run_cli):
    result = run_cli("plot", "dvc")
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1 and "there is no dvc.yaml in" in result.stderr
    assert "add one that lists your plots, for example: plots: [" in result.stderr
    project(repo)
    result = run_cli("plot", "dvc", "--targets", "nope")
    assert result.exit_code != 0 and result.stderr.count("\n") == 1
    assert "--targets: no plot in dvc.yaml is 'nope'; its plots are: 'logs/acc.tsv', 'Losses', 'eval/confusion.json'" \
        in result.stderr
    result = run_cli("plot", "dvc", "--rev", "no-such-branch")
    assert result.exit_code != 0 and "revision 'no-such-branch' is not in this clone" in result.stderr
    repo.write("dvc.yaml", "plots:\n  - ../../etc/passwd\n")
    result = run_cli("plot", "dvc")
    assert result.exit_code != 0 and result.stderr.count("\n") == 1
    assert "dvc.yaml:2: plot '../../etc/passwd': '../../etc/passwd' is outside the repository" in result.stderr


def test_base_branch_by_default_in_ci(repo, run_cli, tmp_path):
    project(repo)
    repo.git("branch", "target")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 1, "base": {"ref": "target"}}}))
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "target", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_REPOSITORY": "o/r"}
    subprocess.run(["git", "update-ref", "refs/remotes/origin/target", "target"], cwd=repo.path, check=True)
    result = run_cli("plot", "dvc", "--targets", "Losses", env=env)
    assert result.exit_code == 0, result.stderr
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(repo.path / "dvc_plots/losses.png").convert("RGB")).astype(int)
    without = run_cli("plot", "dvc", "--targets", "Losses", "-o", "alone")
    assert without.exit_code == 0
    plain = np.asarray(Image.open(repo.path / "alone/losses.png").convert("RGB")).astype(int)
    blue = np.array([0x1F, 0x77, 0xB4])
    assert (np.abs(pixels - blue).sum(-1) < 40).sum() > (np.abs(plain - blue).sum(-1) < 40).sum() * 1.1


def test_help_has_examples(run_cli):
    text = run_cli("plot", "dvc", "--help").stdout
    assert "\n  Examples:\n    cml plot dvc --rev origin/main >> report.md\n" in text
