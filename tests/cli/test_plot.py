"""``cml plot …``: real images, checked for size and content, and the Markdown line printed."""

import json
import os
import time

import numpy as np
import pytest

from tests.conftest import assert_image


@pytest.fixture
def labels_csv(repo):
    rows = ["actual,predicted"] + [f"{a},{p}" for a, p in [("cat", "cat"), ("cat", "dog"), ("dog", "dog"), ("bird", "bird")] * 5]
    repo.write("predictions.csv", "\n".join(rows) + "\n")
    return repo


def test_confusion_writes_png_and_prints_markdown(labels_csv, run_cli):
    result = run_cli("plot", "confusion", "predictions.csv", "--title", "Validation")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Validation](confusion_matrix.png)\n\n"
    assert_image("confusion_matrix.png")


def test_confusion_from_dvclive_json_normalized_svg(repo, run_cli):
    records = [{"actual": str(i % 3), "predicted": str((i * 2) % 3)} for i in range(30)]
    repo.write("dvclive/plots/sklearn/confusion_matrix.json", json.dumps(records))
    result = run_cli("plot", "confusion", "dvclive/plots/sklearn/confusion_matrix.json", "--normalize", "true",
                     "-o", "plots/cm.svg")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Confusion matrix](plots/cm.svg)\n\n"
    svg = (repo.path / "plots/cm.svg").read_text()
    # Issue 17: a normalised matrix leaves empty cells blank rather than writing 0.00.
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and ">1.00<" in svg and ">0.00<" not in svg


def test_confusion_with_named_columns_and_numeric_label_order(repo, run_cli):
    from cml.report.plots.confusion import count_matrix

    matrix = count_matrix(["10", "2", "1", "2"], ["2", "2", "1", "10"])
    assert matrix.labels == ["1", "2", "10"]
    assert matrix.counts.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]
    repo.write("p.tsv", "truth\tguess\n1\t2\n2\t2\n10\t10\n")
    result = run_cli("plot", "confusion", "p.tsv", "--y-true", "truth", "--y-pred", "guess")
    assert result.exit_code == 0, result.stderr


def test_confusion_with_1000_classes_is_fast_and_readable(repo, run_cli):
    rng = np.random.default_rng(0)
    actual = rng.integers(0, 1000, 100_000)
    predicted = np.where(rng.random(100_000) < 0.8, actual, rng.integers(0, 1000, 100_000))
    repo.write("big.csv", "actual,predicted\n" + "".join(f"class{a},class{p}\n" for a, p in zip(actual, predicted)))
    started = time.thread_time()
    result = run_cli("plot", "confusion", "big.csv", "-o", "big.png")
    elapsed = time.thread_time() - started
    assert result.exit_code == 0, result.stderr
    assert elapsed < 20, f"1,000-class confusion matrix took {elapsed:.1f} s"
    pixels = assert_image("big.png", 1000, 1000)
    assert pixels.shape[0] <= 1300, "figure must stay a readable size"


def test_roc_binary_from_scores_reports_auc(repo, run_cli):
    from sklearn.metrics import roc_auc_score

    from cml.report.plots import roc_curve

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 2000)
    scores = np.clip(truth * 0.4 + rng.random(2000) * 0.6, 0, 1)
    repo.write("scores.csv", "label,prob\n" + "".join(f"{t},{s:.6f}\n" for t, s in zip(truth, scores)))
    result = run_cli("plot", "roc", "scores.csv", "--y-true", "label", "--y-score", "prob")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![ROC curve](roc.png)\n\n"
    assert_image("roc.png")
    plot = roc_curve([str(t) for t in truth], np.round(scores, 6), "again.png")
    assert plot.details["auc"]["1"] == pytest.approx(roc_auc_score(truth, np.round(scores, 6)))


def test_roc_one_vs_rest_from_score_columns(repo, run_cli):
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, 600)
    probabilities = rng.dirichlet([1, 1, 1], 600) * 0.5
    probabilities[np.arange(600), truth] += 0.5
    lines = ["actual,prob_0,prob_1,prob_2"] + [f"{t},{p[0]:.4f},{p[1]:.4f},{p[2]:.4f}" for t, p in zip(truth, probabilities)]
    repo.write("multi.csv", "\n".join(lines) + "\n")
    result = run_cli("plot", "roc", "multi.csv", "--y-score", "prob_0,prob_1,prob_2", "-o", "roc_multi.png")
    assert result.exit_code == 0, result.stderr
    assert_image("roc_multi.png")
    single = run_cli("plot", "roc", "multi.csv", "--y-score", "prob_0", "-o", "x.png")
    assert single.exit_code == 1
    assert "3 classes need one score column per class" in single.stderr


def test_roc_and_pr_from_dvclive_points(repo, run_cli):
    repo.write("roc.json", json.dumps({"roc": [{"fpr": 0, "tpr": 0, "threshold": 2}, {"fpr": 0.1, "tpr": 0.8, "threshold": 0.5},
                                               {"fpr": 1, "tpr": 1, "threshold": 0}]}))
    repo.write("pr.json", json.dumps({"precision_recall": [{"precision": 1, "recall": 0.5, "threshold": 0.9},
                                                           {"precision": 0.5, "recall": 1, "threshold": 0.1}]}))
    assert run_cli("plot", "roc", "roc.json").exit_code == 0
    assert run_cli("plot", "pr", "pr.json").stdout == "![Precision-recall curve](pr.png)\n\n"
    assert_image("roc.png")
    assert_image("pr.png")
    from cml.report.plots import pr_curve_from_points, roc_curve_from_points

    assert roc_curve_from_points([0, 0.1, 1], [0, 0.8, 1], "a.png").details["auc"]["model"] == pytest.approx(0.85)
    assert pr_curve_from_points([1, 0.5], [0.5, 1], "b.png").details["average_precision"]["model"] == pytest.approx(0.75)


def test_pr_matches_scikit_learn_average_precision(repo):
    from sklearn.metrics import average_precision_score

    from cml.report.plots import pr_curve

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 500)
    scores = rng.random(500) + truth * 0.3
    plot = pr_curve([str(t) for t in truth], scores, "pr.png")
    assert plot.details["average_precision"]["1"] == pytest.approx(average_precision_score(truth, scores))


def test_roc_on_a_million_scores_is_fast(repo, run_cli):
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 1_000_000)
    scores = rng.random(1_000_000) * 0.7 + truth * 0.3
    np.savetxt("million.csv", np.c_[truth, scores], delimiter=",", header="actual,score", comments="", fmt=["%d", "%.5f"])
    started = time.thread_time()
    result = run_cli("plot", "roc", "million.csv")
    elapsed = time.thread_time() - started
    assert result.exit_code == 0, result.stderr
    assert elapsed < 15, f"ROC on 10^6 scores took {elapsed:.1f} s"
    assert_image("roc.png")


def test_line_plot_of_dvclive_tsvs_with_base_revision_overlay(repo, run_cli):
    repo.write("dvclive/plots/metrics/train/loss.tsv", "timestamp\tstep\tloss\n1\t0\t1.0\n2\t1\t0.8\n3\t2\t0.7\n")
    repo.write("dvclive/plots/metrics/eval/loss.tsv", "timestamp\tstep\tloss\n1\t0\t1.1\n2\t1\t0.9\n3\t2\t0.85\n")
    repo.commit("base run")
    repo.write("dvclive/plots/metrics/train/loss.tsv", "timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.6\n3\t2\t0.4\n")
    result = run_cli("plot", "line", "dvclive/plots/metrics/train/loss.tsv", "dvclive/plots/metrics/eval/loss.tsv",
                     "--rev", "HEAD", "-o", "curves.png", "--title", "Loss")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Loss](curves.png)\n\n"
    assert_image("curves.png")


def test_line_plot_of_a_million_points_is_fast_and_keeps_spikes(repo, run_cli):
    from cml.report.plots.common import downsample

    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 50_000)
    y[123_457] = 25.0
    thin_x, thin_y = downsample(x, y)
    assert len(thin_x) <= 4100 and thin_y.max() == 25.0 and thin_x[0] == 0 and thin_x[-1] == 999_999
    np.savetxt("big.csv", np.c_[x, y], delimiter=",", header="step,loss", comments="", fmt=["%d", "%.5f"])
    started = time.thread_time()
    result = run_cli("plot", "line", "big.csv", "-y", "loss")
    elapsed = time.thread_time() - started
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![loss](big.png)\n\n"  # titled by the metric drawn, not by the file
    assert elapsed < 15, f"10^6-point line plot took {elapsed:.1f} s"
    assert_image("big.png")


def test_line_plot_missing_cells_are_gaps_and_text_is_an_error(repo, run_cli):
    repo.write("log.csv", "epoch,loss,val_loss\n1,1.0,\n2,0.8,0.9\n3,0.7,\n")
    assert run_cli("plot", "line", "log.csv").exit_code == 0
    repo.write("bad.csv", "step,loss\n1,0.5\n2,oops\n")
    result = run_cli("plot", "line", "bad.csv", "-y", "loss")
    assert result.exit_code == 1
    assert result.stderr == "cml: error: bad.csv:3: column 'loss' has a non-numeric value 'oops'\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["plot", "confusion", "predictions.csv", "-o", "cm.jpg"], "--output: 'cm.jpg' must end in .png, .svg or .pdf"),
        (["plot", "confusion", "nope.csv"], "nope.csv: no such file"),
        (["plot", "roc", "predictions.csv"], "predictions.csv: has none of the columns score, y_score"),
        (["plot", "line", "predictions.csv", "--rev", "nope"], "revision 'nope' is not in this clone"),
    ],
)
def test_plot_errors_are_one_line_and_write_nothing(labels_csv, run_cli, args, message):
    labels_csv.commit()
    before = set(os.listdir("."))
    result = run_cli(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"cml: error: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert set(os.listdir(".")) == before


def test_output_that_cannot_be_written_is_a_one_line_error(labels_csv, run_cli):
    os.mkdir("taken.png")
    result = run_cli("plot", "confusion", "predictions.csv", "-o", "taken.png")
    assert result.exit_code == 1
    assert result.stderr == "cml: error: taken.png: cannot be written: Is a directory\n"
    assert os.listdir("taken.png") == [] and sorted(os.listdir(".")) == [".git", "predictions.csv", "taken.png"]


DATA_TEXT = [r"$\frac{a}{b}$", "$x$", r"$\frac{a}$", "cost $5", "\\\\", "_hidden", "a_b^2", "$"]


def svg_texts(path) -> str:
    """The SVG's text with XML entities decoded (matplotlib writes text as text with svg.fonttype none)."""
    import html

    with open(path, encoding="utf-8") as handle:
        return html.unescape(handle.read())


def test_text_from_data_is_drawn_literally_never_as_mathtext(repo, run_cli):
    rows = ["actual,predicted"] + [f'"{DATA_TEXT[i % 8]}","{DATA_TEXT[(i * 3) % 8]}"' for i in range(64)]
    repo.write("labels.csv", "\n".join(rows) + "\n")
    result = run_cli("plot", "confusion", "labels.csv", "-o", "cm.svg", "--title", r"$\alpha$ run_1")
    assert result.exit_code == 0, result.stderr
    drawn = svg_texts("cm.svg")
    for text in [*DATA_TEXT, r"$\alpha$ run_1"]:
        assert f">{text}<" in drawn, text

    truth = [DATA_TEXT[i % 3] for i in range(90)]
    scores = {label: [0.9 if t == label else 0.1 for t in truth] for label in DATA_TEXT[:3]}
    from cml.report.plots import roc_curve

    roc_curve(truth, scores, "roc.svg", title="$x$ vs $y")
    drawn = svg_texts("roc.svg")
    assert ">$x$ vs $y<" in drawn
    for label in DATA_TEXT[:3]:
        assert f">{label} (AUC = 1.000)<" in drawn, label

    repo.write("log.csv", "step,$x$,_loss\n0,1,2\n1,2,1\n")
    result = run_cli("plot", "line", "log.csv", "-o", "line.svg", "--title", r"$\frac{a}$", "--y-label", "y_$",
                     "--log-y")
    assert result.exit_code == 0, result.stderr
    drawn = svg_texts("line.svg")
    for text in (r"$\frac{a}$", "y_$", "$x$", "_loss"):
        assert f">{text}<" in drawn, text


def test_confusion_counts_sparsely_and_folds_rare_classes_into_other():
    from cml.report.plots.confusion import count_matrix

    actual = ["a"] * 5 + ["b"] * 3 + [f"r{i}" for i in range(50_000)]
    predicted = ["a"] * 4 + ["b"] + ["b"] * 3 + [f"r{(i + 1) % 50_000}" if i % 2 else f"r{i}" for i in range(50_000)]
    matrix = count_matrix(actual, predicted, max_classes=2)
    assert matrix.labels == ["a", "b", "other (50,000 classes)"]
    assert matrix.counts.tolist() == [[4, 1, 0], [0, 3, 0], [0, 0, 50_000]]
    assert (matrix.classes, matrix.folded, matrix.correct) == (50_002, 50_000, 4 + 3 + 25_000)


def test_confusion_of_50000_classes_runs_in_bounded_memory_and_says_what_it_drew(repo):
    import resource
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    actual = rng.integers(0, 50_000, 300_000)
    predicted = np.where(rng.random(300_000) < 0.7, actual, rng.integers(0, 50_000, 300_000))
    repo.write("many.csv", "actual,predicted\n" + "".join(f"c{a},c{p}\n" for a, p in zip(actual, predicted)))
    classes = len(set(actual) | set(predicted))
    limit = 3 * 1024 ** 3

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for args, shown, output in ((["plot", "confusion", "many.csv", "-o", "many.png"], 1000, "many.png"),
                                (["metrics", "classification", "many.csv", "--md"], 100, "the table")):
        started = time.thread_time()
        result = subprocess.run([sys.executable, "-m", "cml", *args], capture_output=True, text=True, timeout=300,
                                preexec_fn=cap_memory, env=environment)
        assert result.returncode == 0, result.stderr
        assert time.thread_time() - started < 120
        folded = classes - shown
        assert result.stderr.startswith(f"cml: warning: {output} shows the {shown:,} most frequent of {classes:,} "
                                        f"classes; the other {folded:,} are summed as 'other ({folded:,} classes)'; "
                                        "raise --max-classes to")
    assert_image("many.png", 1000, 1000)
    assert f"| other ({classes - 100:,} classes) |" in result.stdout


def test_links_are_relative_to_the_report_named_by_option_or_variable(labels_csv, run_cli):
    result = run_cli("plot", "confusion", "predictions.csv", "-o", "out/cm.svg", "--report", "out/report.md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Confusion matrix](cm.svg)\n\n"
    assert not os.path.exists("out/report.md")

    labels_csv.write("log.csv", "step,loss\n0,1\n1,0.5\n")
    image = str(labels_csv.path / "plots dir" / "loss.svg")
    # The most specific variable wins; a CI job sets CML_REPORT once for every command.
    env = {"CML_REPORT": "elsewhere/report.md", "CML_PLOT_LINE_REPORT": "docs/new/report.md"}
    result = run_cli("plot", "line", "log.csv", "-o", image, "--title", "Loss", env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Loss](<../../plots dir/loss.svg>)\n\n"
    assert not os.path.exists("docs")


def cat_dog_csv(repo):
    rng = np.random.default_rng(8)
    truth = np.where(rng.random(300) < 0.5, "cat", "dog")
    score = np.round(rng.random(300) * 0.6 + (truth == "dog") * 0.4, 4)
    repo.write("pets.csv", "label,score\n" + "".join(f"{t},{s}\n" for t, s in zip(truth, score)))
    return truth, score


@pytest.mark.parametrize("args, message", [
    ([], "pets.csv: y_true takes values 'cat', 'dog'; pass --pos-label with one of them"),
    (["--pos-label", "bird"], "--pos-label: 'bird' is not a label of y_true in pets.csv; its labels are 'cat', 'dog'"),
    (["--y-score", "prob_*"], "--y-score: 'prob_*' matches no column of pets.csv; its columns are: label, score"),
])
@pytest.mark.parametrize("kind", ["roc", "pr"])
def test_string_labels_need_pos_label_and_bad_choices_are_one_line_errors(repo, run_cli, kind, args, message):
    cat_dog_csv(repo)
    result = run_cli("plot", kind, "pets.csv", "--y-true", "label", *args)
    assert result.exit_code == 1
    assert result.stderr == f"cml: error: {message}\n"
    assert sorted(os.listdir(".")) == [".git", "pets.csv"]


def test_pr_with_pos_label_matches_scikit_learn(repo, run_cli):
    from sklearn.metrics import average_precision_score

    truth, score = cat_dog_csv(repo)
    result = run_cli("plot", "pr", "pets.csv", "--y-true", "label", "--pos-label", "dog", "-o", "plots/pr.svg",
                     env={"CML_PLOT_REPORT": "plots/report.md", "CML_REPORT": "report.md"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![Precision-recall curve](pr.svg)\n\n"
    expected = average_precision_score(truth, score, pos_label="dog")
    assert f">dog (AP = {expected:.3f})<" in svg_texts("plots/pr.svg")


def test_roc_finds_score_columns_named_after_the_classes(repo, run_cli):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(9)
    classes = np.array(["cat", "dog", "fish"])
    truth = classes[rng.integers(0, 3, 300)]
    scores = rng.random((300, 3)) * 0.7 + (truth[:, None] == classes) * 0.3
    repo.write("three.csv", "y_true,predicted,cat,dog,fish\n" + "".join(
        f"{t},{t},{a:.4f},{b:.4f},{c:.4f}\n" for t, (a, b, c) in zip(truth, scores)))
    result = run_cli("plot", "roc", "three.csv", "-o", "roc.svg", env={"CML_REPORT": "report.md"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "![ROC curve](roc.svg)\n\n"
    drawn = svg_texts("roc.svg")
    for index, label in enumerate(classes):
        assert f">{label} (AUC = {roc_auc_score(truth == label, np.round(scores[:, index], 4)):.3f})<" in drawn
