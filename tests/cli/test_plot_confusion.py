"""``cml plot confusion`` against the base branch: --rev, the CI's base branch by default, and the warnings."""

import json

import numpy as np
from PIL import Image

from cml.report.data import load_table
from cml.report.plots.confusion import confusion_from_table
from tests.conftest import assert_image

BASE_ROWS = [("cat", "cat")] * 8 + [("cat", "dog")] * 2 + [("dog", "dog")] * 10 + [("bird", "bird")] * 5
HEAD_ROWS = [("cat", "cat")] * 6 + [("cat", "dog")] * 4 + [("dog", "dog")] * 10 + [("bird", "bird")] * 5


def csv(rows) -> str:
    return "actual,predicted\n" + "".join(f"{actual},{predicted}\n" for actual, predicted in rows)


def width_of(path) -> int:
    return Image.open(path).size[0]


def red_and_blue_pixels(path, left_fraction: float) -> tuple[int, int]:
    """Clearly red and clearly blue pixels right of ``left_fraction`` of the image's width."""
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    right = pixels[:, int(pixels.shape[1] * left_fraction):]
    red = (right[..., 0] - right[..., 2] > 60) & (right[..., 1] < 200)
    blue = (right[..., 2] - right[..., 0] > 60) & (right[..., 1] < 220)
    return int(red.sum()), int(blue.sum())


def test_rev_draws_the_change_against_the_committed_file(repo, run_cli):
    repo.write("predictions.csv", csv(BASE_ROWS))
    repo.commit("base predictions")
    repo.write("predictions.csv", csv(HEAD_ROWS))
    alone = run_cli("plot", "confusion", "predictions.csv", "-o", "alone.png")
    assert alone.exit_code == 0, alone.stderr
    result = run_cli("plot", "confusion", "predictions.csv", "--rev", "HEAD", "--title", "Validation")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == "![Validation](confusion_matrix.png)\n\n"
    assert_image("confusion_matrix.png")
    assert width_of("confusion_matrix.png") > width_of("alone.png"), "two panels side by side"
    red, blue = red_and_blue_pixels("confusion_matrix.png", 0.5)
    assert red > 100, "the cat row got worse: red cells in the change panel"
    assert blue > 100, "the colour bar's better half"
    # The same drawing through the library, for its numbers: cat lost 2 correct to dog.
    from cml import git
    from cml.report.data import load_table_at

    plot = confusion_from_table(load_table("predictions.csv"), "check.png",
                                base_table=load_table_at("predictions.csv", git.resolve("HEAD")), base_label="HEAD")
    assert plot.details["labels"] == ["bird", "cat", "dog"]
    assert plot.details["change"].tolist() == [[0, 0, 0], [0, -2, 2], [0, 0, 0]]
    assert plot.details["worsened_classes"] == [("cat", 0.8, 0.6)]


def test_a_file_missing_at_the_revision_draws_the_head_alone_with_a_warning(repo, run_cli):
    repo.write("README.md", "no predictions yet\n")
    repo.commit()
    repo.write("predictions.csv", csv(HEAD_ROWS))
    result = run_cli("plot", "confusion", "predictions.csv", "--rev", "HEAD", "-o", "cm.png")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "cml: warning: predictions.csv is not at HEAD; nothing to compare with\n"
    assert result.stdout == "![Confusion matrix](cm.png)\n\n"
    assert run_cli("plot", "confusion", "predictions.csv", "-o", "alone.png").exit_code == 0
    assert width_of("cm.png") == width_of("alone.png")


def test_in_ci_the_base_branch_is_compared_by_default(repo, run_cli):
    repo.write("predictions.csv", csv(BASE_ROWS))
    repo.commit("base predictions")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.write("predictions.csv", csv(HEAD_ROWS))
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    result = run_cli("plot", "confusion", "predictions.csv", "-o", "ci.png", env=ci)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    outside = run_cli("plot", "confusion", "predictions.csv", "-o", "local.png")
    assert outside.exit_code == 0, outside.stderr
    assert width_of("ci.png") > width_of("local.png")
    explicit = run_cli("plot", "confusion", "predictions.csv", "-o", "explicit.png", "--rev", "origin/main")
    assert explicit.exit_code == 0 and width_of("explicit.png") == width_of("ci.png")


def test_in_ci_without_the_base_branch_fetched_the_head_is_drawn_with_a_warning(repo, run_cli):
    repo.write("predictions.csv", csv(HEAD_ROWS))
    repo.commit()
    result = run_cli("plot", "confusion", "predictions.csv", env={"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"})
    assert result.exit_code == 0, result.stderr
    # In GitHub Actions a warning is a workflow annotation.
    assert result.stderr.startswith("::warning::no comparison with the base branch: revision 'origin/main' is not")
    assert result.stdout == "![Confusion matrix](confusion_matrix.png)\n\n"


def test_dvclive_confusion_json_is_compared_at_the_revision(repo, run_cli):
    path = "dvclive/plots/sklearn/confusion_matrix.json"
    repo.write(path, json.dumps([{"actual": a, "predicted": p} for a, p in BASE_ROWS]))
    repo.commit()
    repo.write(path, json.dumps([{"actual": a, "predicted": p} for a, p in HEAD_ROWS[:-1]]))
    result = run_cli("plot", "confusion", "--dvclive", "dvclive", "--rev", "HEAD", "--normalize", "true",
                     "-o", "cm.svg")
    assert result.exit_code == 0, result.stderr
    with open("cm.svg", encoding="utf-8") as handle:
        svg = handle.read()
    assert "Change vs HEAD" in svg and "head − HEAD" in svg
    assert "row fractions" in svg and "−0.20" in svg and "+0.20" in svg


def test_a_base_file_of_another_layout_warns_and_draws_the_head(repo, run_cli):
    repo.write("predictions.csv", "label_a,label_b\ncat,cat\n")
    repo.commit()
    repo.write("predictions.csv", csv(HEAD_ROWS))
    result = run_cli("plot", "confusion", "predictions.csv", "--rev", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("cml: warning: predictions.csv (at HEAD): has none of the columns actual")
    assert result.stderr.endswith("; drawing the head without comparison\n")


def test_rev_is_checked_and_can_come_from_the_environment(repo, run_cli):
    repo.write("predictions.csv", csv(BASE_ROWS))
    repo.commit()
    result = run_cli("plot", "confusion", "predictions.csv", "--rev", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: revision 'nope' is not in this clone")
    assert len(result.stderr.splitlines()) == 1
    repo.write("predictions.csv", csv(HEAD_ROWS))
    from_env = run_cli("plot", "confusion", "predictions.csv", "-o", "env.png", env={"CML_PLOT_CONFUSION_REV": "HEAD"})
    assert from_env.exit_code == 0, from_env.stderr
    assert run_cli("plot", "confusion", "predictions.csv", "-o", "local.png").exit_code == 0
    assert width_of("env.png") > width_of("local.png")


def test_an_unreadable_base_file_warns_and_draws_the_head(repo, run_cli):
    repo.write("predictions.json", "[{\"actual\": \"cat\", ")
    repo.commit("broken predictions")
    repo.write("predictions.json", json.dumps([{"actual": a, "predicted": p} for a, p in HEAD_ROWS]))
    result = run_cli("plot", "confusion", "predictions.json", "--rev", "HEAD", "-o", "cm.png")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("cml: warning: no comparison with HEAD: predictions.json (at HEAD)")
    assert result.stderr.count("\n") == 1
    assert result.stdout == "![Confusion matrix](cm.png)\n\n"
