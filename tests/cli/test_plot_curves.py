"""``cml plot roc|pr --rev``: the same file at a git revision drawn dashed, from a real repository, and the base
branch by default in CI."""

import html
import json

import numpy as np
import pytest


def svg_texts(path) -> str:
    with open(path, encoding="utf-8") as handle:
        return html.unescape(handle.read())


def predictions(repo, seed, signal, count=400, name="predictions.csv", score_column="score"):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, count)
    scores = np.round(rng.random(count) * (1 - signal) + truth * signal, 4)
    repo.write(name, f"actual,{score_column}\n" + "".join(f"{t},{s}\n" for t, s in zip(truth, scores)))
    return truth, scores


@pytest.mark.parametrize("kind", ["roc", "pr"])
def test_rev_draws_the_committed_file_dashed_with_both_areas(repo, run_cli, kind):
    from sklearn.metrics import average_precision_score, roc_auc_score

    area = roc_auc_score if kind == "roc" else average_precision_score
    name = "AUC" if kind == "roc" else "AP"
    base_truth, base_scores = predictions(repo, 1, 0.2)
    repo.commit("base model")
    truth, scores = predictions(repo, 2, 0.5)
    result = run_cli("plot", kind, "predictions.csv", "--rev", "HEAD", "-o", f"{kind}.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    drawn = svg_texts(f"{kind}.svg")
    assert f">1 ({name} = {area(truth, scores):.3f})<" in drawn
    assert f">1 at HEAD ({name} = {area(base_truth, base_scores):.3f})<" in drawn
    assert "stroke-dasharray" in drawn


def test_a_file_missing_at_the_revision_is_a_warning_and_the_head_is_drawn(repo, run_cli):
    repo.write("README", "x")
    repo.commit()
    predictions(repo, 3, 0.4)
    result = run_cli("plot", "roc", "predictions.csv", "--rev", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![ROC curve](roc.png)\n\n"
    assert "predictions.csv is not at HEAD; nothing to compare with" in result.stderr
    assert " at HEAD (AUC" not in result.stderr


def test_a_base_without_the_columns_is_a_warning_naming_the_file_at_the_revision(repo, run_cli):
    predictions(repo, 1, 0.2, score_column="confidence")
    repo.commit()
    predictions(repo, 2, 0.5)
    result = run_cli("plot", "pr", "predictions.csv", "--rev", "HEAD", "-o", "pr.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("\n") == 1
    assert "no comparison with HEAD: predictions.csv (at HEAD): has none of the columns score" in result.stderr
    assert " at HEAD (AP" not in svg_texts("pr.svg")


def test_an_unknown_rev_is_a_one_line_error(repo, run_cli):
    predictions(repo, 1, 0.2)
    repo.commit()
    result = run_cli("plot", "roc", "predictions.csv", "--rev", "nope")
    assert result.exit_code != 0
    assert result.stderr.startswith("cml: error: revision 'nope' is not in this clone") and result.stderr.count("\n") == 1


CI = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}


def test_in_ci_the_pull_request_base_branch_is_the_default(repo, run_cli):
    from sklearn.metrics import roc_auc_score

    base_truth, base_scores = predictions(repo, 1, 0.2)
    repo.commit()
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    predictions(repo, 2, 0.5)
    result = run_cli("plot", "roc", "predictions.csv", "-o", "roc.svg", env=CI)
    assert result.exit_code == 0, result.stderr
    assert f">1 at origin/main (AUC = {roc_auc_score(base_truth, base_scores):.3f})<" in svg_texts("roc.svg")
    outside_ci = run_cli("plot", "roc", "predictions.csv", "-o", "alone.svg")
    assert outside_ci.exit_code == 0 and outside_ci.stderr == "" and " at origin/main" not in svg_texts("alone.svg")


def test_in_ci_without_the_base_branch_fetched_the_head_is_drawn_with_a_warning(repo, run_cli):
    predictions(repo, 1, 0.2)
    repo.commit()
    result = run_cli("plot", "pr", "predictions.csv", "-o", "pr.svg", env=CI)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("::warning::no comparison with the base branch: revision 'origin/main'")
    assert " at origin/main" not in svg_texts("pr.svg")


def test_multi_class_rev_compares_macro_averages_and_dvclive_points_take_rev(repo, run_cli):
    from sklearn.metrics import roc_auc_score

    def write(seed, signal):
        rng = np.random.default_rng(seed)
        classes = np.array(["bird", "cat", "dog"])
        truth = classes[rng.integers(0, 3, 300)]
        raw = rng.random((300, 3)) + (truth[:, None] == classes) * signal
        probabilities = np.round(raw / raw.sum(axis=1, keepdims=True), 4)
        probabilities[:, 2] = np.round(1 - probabilities[:, :2].sum(axis=1), 4)
        repo.write("multi.csv", "actual,prob_bird,prob_cat,prob_dog\n" + "".join(
            f"{t},{a},{b},{c}\n" for t, (a, b, c) in zip(truth, probabilities)))
        return truth, probabilities

    base_truth, base_probabilities = write(1, 0.3)
    repo.write("dvclive/plots/sklearn/roc.json", json.dumps({"roc": [
        {"fpr": 0, "tpr": 0}, {"fpr": 0.5, "tpr": 0.5}, {"fpr": 1, "tpr": 1}]}))
    repo.commit()
    write(2, 1.0)
    repo.write("dvclive/plots/sklearn/roc.json", json.dumps({"roc": [
        {"fpr": 0, "tpr": 0}, {"fpr": 0.1, "tpr": 0.8}, {"fpr": 1, "tpr": 1}]}))
    result = run_cli("plot", "roc", "multi.csv", "--rev", "HEAD", "-o", "multi.svg")
    assert result.exit_code == 0, result.stderr
    expected = roc_auc_score(base_truth, base_probabilities, labels=["bird", "cat", "dog"], multi_class="ovr")
    drawn = svg_texts("multi.svg")
    assert f">macro average at HEAD (AUC = {expected:.3f})<" in drawn
    assert ">cat (AUC = " in drawn and ", HEAD 0." in drawn
    points = run_cli("plot", "roc", "--dvclive", "dvclive", "--rev", "HEAD", "-o", "points.svg")
    assert points.exit_code == 0, points.stderr
    drawn = svg_texts("points.svg")
    assert ">model (AUC = 0.850)<" in drawn and ">model at HEAD (AUC = 0.500)<" in drawn


def test_curve_from_file_returns_the_warnings_for_report_create(repo):
    from cml import git
    from cml.report.plots.curves import curve_from_file

    predictions(repo, 1, 0.2)
    repo.commit()
    predictions(repo, 2, 0.5)
    plot, warnings = curve_from_file("roc", "predictions.csv", "roc.png", revision=git.resolve("HEAD"))
    assert warnings == [] and plot.title == "ROC curve" and set(plot.details["base_auc"]) == {"1"}
    predictions(repo, 2, 0.5, name="new.csv")
    plot, warnings = curve_from_file("pr", "new.csv", "pr.png", revision=git.resolve("HEAD"), title="New")
    assert warnings == ["new.csv is not at HEAD; nothing to compare with"] and plot.title == "New"
    assert "base_average_precision" not in plot.details
