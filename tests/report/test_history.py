"""Metric history (:mod:`cml.report.history`) over real git repositories: the walk, sparklines, tables and plots."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from cml import Report
from cml.errors import GitError, InputError, UsageError
from cml.git import ObjectReader
from cml.report.data import MAX_DOCUMENT_BYTES
from cml.report.history import (
    MAX_COUNT,
    history_plot,
    metric_history,
    render_history,
    sparkline,
    trend_cell,
)
from tests.conftest import assert_image, git

#: Commits on main: (accuracy, loss), or None for a commit without metrics.json.
MAIN = [None, None, (0.50, 0.90), (0.55, 0.80), (0.60, 0.70), None, (0.62, 0.65), (0.64, 0.60), (0.66, 0.55),
        (0.68, 0.50), (0.70, 0.45), (0.71, 0.44), (0.72, 0.43), (0.73, 0.42), (0.74, 0.41), (0.75, 0.40),
        (0.76, 0.39), (0.77, 0.38), (0.78, 0.37), (0.79, 0.36)]
#: Values on a side branch merged into main at the end: never points of main's first-parent history.
SIDE = [(0.01, 9.0), (0.02, 8.0)]
MERGED = (0.80, 0.35)
WORKSPACE = (0.85, 0.30)


def metrics_text(accuracy: float, loss: float) -> str:
    return json.dumps({"accuracy": accuracy, "loss": loss, "info": {"model": "resnet"}})


@pytest.fixture
def history_repo(repo):
    """Main's 20 commits (3 of them without metrics.json), a side branch of 2 commits merged with --no-ff, and a
    modified working tree: 21 first-parent commits, 25 in all."""
    for index, values in enumerate(MAIN):
        if values is None:
            (repo.path / "metrics.json").unlink(missing_ok=True)
            repo.write("notes.txt", f"commit {index}")
        else:
            repo.write("metrics.json", metrics_text(*values))
        repo.commit(f"main {index}")
    repo.git("checkout", "-q", "-b", "side")
    for values in SIDE:
        repo.write("metrics.json", metrics_text(*values))
        repo.commit("side")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "--no-commit", "side")
    repo.write("metrics.json", metrics_text(*MERGED))
    repo.commit("merge side")
    repo.write("metrics.json", metrics_text(*WORKSPACE))
    return repo


def expected_series(position: int) -> list:
    """Main's values of accuracy (0) or loss (1) where it has them, the merge commit's, the working tree's."""
    return [*(values[position] for values in MAIN if values is not None), MERGED[position], WORKSPACE[position]]


def test_history_reads_every_first_parent_commit_oldest_first_then_the_working_tree(history_repo):
    history = metric_history(25)

    first_parents = history_repo.git("rev-list", "--first-parent", "HEAD").split()
    assert history.examined == 21  # the branch has no more: no shallow note
    with_metrics = [sha for sha, values in zip(reversed(first_parents), [*MAIN, MERGED]) if values is not None]
    assert [point.sha for point in history.commits] == [*with_metrics, None]
    assert history.commits[-1].label == "workspace" and history.has_workspace
    assert history.commits[-2].subject == "merge side"
    assert list(history.series) == [("metrics.json", "accuracy"), ("metrics.json", "loss")]
    assert history.series[("metrics.json", "accuracy")] == expected_series(0)
    assert history.series[("metrics.json", "loss")] == expected_series(1)
    # the side branch's commits are not points: the merge commit follows its first parent
    assert 0.01 not in history.series[("metrics.json", "accuracy")]


def test_commits_without_the_file_are_skipped_and_counted(history_repo):
    history = metric_history(25)
    assert history.skipped == 3
    assert history.notes == ["3 commits without metrics.json skipped"]
    assert "3 commits without metrics.json skipped" in render_history(history, "md")


def test_count_takes_the_last_commits_and_workspace_can_be_left_out(history_repo):
    history = metric_history(5, workspace=False)
    assert history.examined == 5
    assert not history.has_workspace
    assert history.series[("metrics.json", "accuracy")] == [0.76, 0.77, 0.78, 0.79, 0.80]
    assert history.notes == []


def test_metric_globs_pick_the_series(history_repo):
    assert list(metric_history(25, ["loss"]).series) == [("metrics.json", "loss")]
    assert list(metric_history(25, ["ACC*"]).series) == [("metrics.json", "accuracy")]
    assert list(metric_history(25, ["metrics.json:*"]).series) == [("metrics.json", "accuracy"),
                                                                    ("metrics.json", "loss")]
    with pytest.raises(UsageError) as raised:
        metric_history(25, ["f1*"])
    assert raised.value.parameter == "metrics"
    assert "no numeric metric matches 'f1*'; the metrics are 'accuracy', 'loss'" in str(raised.value)


def test_one_metric_or_file_may_be_given_as_a_string(history_repo):
    assert list(metric_history(3, "loss", "metrics.json").series) == [("metrics.json", "loss")]


def test_non_numeric_values_are_not_series(history_repo):
    assert ("metrics.json", "info.model") not in metric_history(3).series


@pytest.mark.parametrize(("values", "line"), [
    ([0, 1, 2, 3, 4, 5, 6, 7], "▁▂▃▄▅▆▇█"),
    ([7, 6, 5, 4, 3, 2, 1, 0], "█▇▆▅▄▃▂▁"),
    ([0.5, 0.5, 0.5], "▄▄▄"),
    ([1.0], "▄"),
    ([1, None, 3], "▁ █"),
    ([1, math.nan, 2, 3], "▁ ▅█"),
    ([None, None, 1, 2], "  ▁█"),
    ([1, math.inf, 2, -math.inf], "▁██▁"),
    ([True, 1, 2], " ▁█"),  # a boolean is not a number
    ([10**400, 0, 1], "█▁█"),  # too large for a float: the top of the scale
    ([-1.7e308, 1.7e308, 0.0], "▁█▅"),  # a span over the largest float
    ([], ""),
])
def test_sparkline_characters(values, line):
    assert sparkline(values) == line


def test_trend_cells_keep_their_gaps_in_markdown_and_terminal_tables():
    assert trend_cell([None, 1, 2, None], "md") == "`  ▁█  `"  # a code span drops one space at each end
    assert trend_cell([1, 2, None], "md") == "`▁█ `"
    assert trend_cell([None, 1, 2], "table") == "\u2800▁█"
    assert trend_cell([None, None], "md") == ""


def test_markdown_table_has_first_last_change_range_and_sparkline(history_repo):
    text = render_history(metric_history(5), "md", precision=3)
    lines = text.splitlines()
    assert lines[0] == "| Metric   |   First |   Last |   Change |   Min |   Max | Trend    |"
    assert lines[2] == "| accuracy |    0.76 |   0.85 |    +0.09 |  0.76 |  0.85 | `▁▂▃▃▄█` |"
    assert lines[3] == "| loss     |    0.39 |    0.3 |    -0.09 |   0.3 |  0.39 | `█▇▆▆▅▁` |"
    short = history_repo.git("rev-parse", "--short=7", "HEAD~4").strip()
    head = history_repo.git("rev-parse", "--short=7", "HEAD").strip()
    assert lines[5].startswith(f"History: 5 commits of HEAD, {short} (")
    assert f"→ {head} (" in lines[5] and lines[5].endswith(", then the workspace")


def test_terminal_table_and_row_cap(history_repo):
    text = render_history(metric_history(5), "table", max_rows=1)
    lines = text.splitlines()
    assert lines[0].split() == ["Metric", "First", "Last", "Change", "Min", "Max", "Trend"]
    assert lines[2].split() == ["accuracy", "0.76", "0.85", "+0.09", "0.76", "0.85", "▁▂▃▃▄█"]
    assert "1 of 2 metrics shown" in lines


def test_json_has_every_series_with_the_commit_shas(history_repo):
    document = json.loads(render_history(metric_history(3), "json"))
    shas = history_repo.git("rev-list", "--first-parent", "-n", "3", "HEAD").split()[::-1]
    assert [commit["sha"] for commit in document["commits"]] == [*shas, None]
    assert document["commits"][0]["subject"] == "main 18"
    assert document["commits"][-1] == {"sha": None, "label": "workspace"}
    assert document["metrics"]["metrics.json"]["accuracy"] == {
        "values": [0.78, 0.79, 0.8, 0.85], "first": 0.78, "last": 0.85, "change": 0.07, "min": 0.78, "max": 0.85,
        "sparkline": "▁▂▃█",
    }
    assert document["base"] == "HEAD" and document["examined"] == 3 and document["skipped"] == 0


def test_metric_names_with_markup_are_escaped_in_markdown(repo):
    repo.write("metrics.json", json.dumps({"a|b": 1, "<img src=x>": 2, "**bold**": 3}))
    repo.commit()
    text = render_history(metric_history(2), "md")
    assert "| a\\|b " in text
    assert "&lt;img src=x&gt;" in text and "<img" not in text
    assert "| **bold**" in text  # as in every other table: pipes, backslashes and HTML are what cells escape
    assert text.count("\n|") == 4  # header rule and three rows: no cell broke the table


def test_dvc_yaml_files_are_discovered_at_each_commit(repo):
    repo.write("metrics.json", '{"accuracy": 0.5}')
    repo.commit("before dvc")
    repo.write("dvc.yaml", "metrics:\n  - eval/train.json\n  - eval/test.json\n")
    repo.write("eval/train.json", '{"accuracy": 0.9}')
    repo.write("eval/test.json", '{"accuracy": 0.7}')
    repo.commit("dvc")
    repo.write("eval/test.json", '{"accuracy": 0.75}')
    repo.commit("better")
    history = metric_history(10)
    assert history.series == {
        ("eval/train.json", "accuracy"): [None, 0.9, 0.9, 0.9],
        ("eval/test.json", "accuracy"): [None, 0.7, 0.75, 0.75],
        ("metrics.json", "accuracy"): [0.5, None, None, None],
    }
    lines = render_history(history, "md").splitlines()
    assert lines[0].startswith("| Path            | Metric   |")
    assert "| eval/test.json  | accuracy |     0.7 |   0.75 |    +0.05 |   0.7 |  0.75 | ` ▁██`  |" in lines
    assert "| metrics.json    | accuracy |     0.5 |      — |        — |   0.5 |   0.5 | `▄   `  |" in lines


def test_named_files_are_followed(history_repo):
    history = metric_history(4, files=["./metrics.json"])
    assert list(history.series) == [("metrics.json", "accuracy"), ("metrics.json", "loss")]
    with pytest.raises(InputError, match=r"^other.json: not found in the last 4 commits of HEAD nor in the working"):
        metric_history(4, files=["other.json"])


def test_files_are_read_from_the_folder_given(history_repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    history = metric_history(2, cwd=history_repo.path)
    assert history.series[("metrics.json", "accuracy")] == [0.79, 0.80, 0.85]


def test_a_metrics_file_over_the_size_limit_is_refused_at_its_commit(repo):
    repo.write("metrics.json", '{"accuracy": 0.5}')
    repo.commit("small")
    padding = " " * (MAX_DOCUMENT_BYTES + 1024)
    repo.write("metrics.json", '{"accuracy": 0.6, "pad": "' + padding + '"}')
    big = repo.commit("50 MB")
    repo.write("metrics.json", '{"accuracy": 0.7}')
    repo.commit("small again")
    history = metric_history(10)
    assert history.series[("metrics.json", "accuracy")] == [0.5, 0.7, 0.7]
    assert history.notes == [
        "1 commit with unreadable metrics skipped",
        f"metrics.json (at {big[:7]}): is 32.0 MiB, over the 32.0 MiB limit for metrics and params files; "
        "cml does not read larger files",
    ]


def test_an_invalid_file_at_an_old_commit_is_named_not_fatal(repo):
    repo.write("metrics.json", '{"accuracy": ')
    broken = repo.commit("broken")
    repo.write("metrics.json", '{"accuracy": 0.7}')
    repo.commit("fixed")
    history = metric_history(10)
    assert history.series[("metrics.json", "accuracy")] == [0.7, 0.7]
    assert history.notes[0] == "1 commit with unreadable metrics skipped"
    assert history.notes[1].startswith(f"metrics.json (at {broken[:7]})")


def test_an_invalid_working_tree_file_is_an_error(history_repo):
    history_repo.write("metrics.json", "[1, 2]")
    with pytest.raises(InputError, match="must hold a mapping"):
        metric_history(3)


def test_a_shallow_clone_gives_what_it_has_and_says_how_to_fetch_more(history_repo, tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth", "4", f"file://{history_repo.path}", str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    history = metric_history(10)
    assert history.examined == 4
    assert history.series[("metrics.json", "accuracy")] == [0.77, 0.78, 0.79, 0.80, 0.80]
    assert history.notes == ["the history stops after 4 commits of 10: this clone is shallow; fetch more with "
                             "git fetch --deepen=6 (or fetch-depth: 0 in actions/checkout)"]
    remote = metric_history(10, base="origin/main")
    assert remote.notes[-1].endswith("git fetch --deepen=6 origin main (or fetch-depth: 0 in actions/checkout)")


def test_a_missing_base_says_how_to_fetch_its_history(history_repo):
    with pytest.raises(GitError) as raised:
        metric_history(30, base="origin/main")
    assert str(raised.value) == ("revision 'origin/main' is not in this clone; fetch its history first: git fetch "
                                 "--depth=30 origin main:refs/remotes/origin/main (or fetch-depth: 0 in "
                                 "actions/checkout)")


def test_the_base_is_the_ci_target_branch_by_default(history_repo, monkeypatch):
    history_repo.git("update-ref", "refs/remotes/origin/main", "HEAD~2")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    history = metric_history(3)
    assert history.base == "origin/main"
    assert history.series[("metrics.json", "accuracy")] == [0.76, 0.77, 0.78, 0.85]


def test_bad_counts_and_no_metrics_anywhere_are_usage_errors(repo):
    repo.write("notes.txt", "no metrics")
    repo.commit()
    for count in (0, MAX_COUNT + 1):
        with pytest.raises(UsageError) as raised:
            metric_history(count)
        assert raised.value.parameter == "count"
    with pytest.raises(UsageError, match="no metrics files found in the last 1 commit of HEAD nor in the working"):
        metric_history(5)


def test_a_revision_name_with_a_line_break_is_refused(history_repo):
    with pytest.raises(UsageError) as raised:
        metric_history(3, base="HEAD\nHEAD:metrics.json")
    assert raised.value.parameter == "base"


def test_object_reader_streams_many_requests_and_can_stop_early(history_repo):
    names = [f"HEAD~{index % 20}:metrics.json" for index in range(3000)]  # far over a pipe's buffer
    with ObjectReader() as reader:
        answers = list(reader.stream(names))
        assert len(answers) == 3000
        assert answers[0].data == metrics_text(*MERGED).encode()
        assert answers[5].kind == "blob" and answers[15] is None  # HEAD~15, main 5, had no metrics.json
        stream = reader.stream(names)
        next(stream)
        stream.close()  # git, left with unread answers, is ended rather than waited for
    with ObjectReader() as reader:
        assert reader.read("HEAD:metrics.json", max_bytes=10).data is None  # too large: skipped, not held
        assert reader.read("HEAD:metrics.json", max_bytes=10).size == len(metrics_text(*MERGED))
        assert reader.read("no-such-revision") is None
        commit = reader.commit("HEAD")
        assert commit.subject == "merge side" and len(commit.parents) == 2


def test_object_reader_outside_a_repository_is_one_line(tmp_path):
    with ObjectReader(tmp_path) as reader, pytest.raises(GitError, match="is not inside a git repository"):
        reader.read("HEAD")


def test_trend_plot_has_a_panel_per_metric_and_marks_the_working_tree(history_repo, tmp_path):
    import numpy as np

    plot = history_plot(metric_history(25), tmp_path / "trend.png")
    assert plot.details == {"panels": 2, "metrics": 2}
    pixels = assert_image(plot.path, min_width=600, min_height=200)
    assert pixels.shape[2] == 3 or float(pixels[..., 3].min()) == 1.0  # opaque
    red = (pixels[..., 0] > 0.75) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)  # the workspace stars (C3)
    columns = np.nonzero(red.any(axis=0))[0]
    assert columns.size and columns.min() > pixels.shape[1] * 0.3  # at the right of each panel
    left_half, right_half = red[:, : pixels.shape[1] // 2], red[:, pixels.shape[1] // 2:]
    assert left_half.any() and right_half.any()  # one star per panel


def test_trend_plot_keeps_at_most_twelve_panels(repo, tmp_path):
    repo.write("metrics.json", json.dumps({f"m{index}": index for index in range(20)}))
    repo.commit()
    plot = history_plot(metric_history(2), tmp_path / "trend.svg")
    assert plot.details == {"panels": 12, "metrics": 20}
    assert plot.path.endswith("trend.svg") and os.path.getsize(plot.path) > 0


def test_report_history_adds_the_table_and_the_plot(history_repo, tmp_path):
    report = Report(tmp_path / "out").history(5, ["acc*"], filename="trend.png")
    text = report.markdown(tmp_path / "out")
    assert "| accuracy |" in text and "| loss" not in text
    assert text.rstrip().endswith("![Metric history](trend.png)")
    assert (tmp_path / "out" / "trend.png").stat().st_size > 0
    assert "trend.png" not in Report().history(3).markdown()


def test_report_metrics_diff_with_history_adds_a_trend_column(history_repo):
    text = Report().metrics_diff("HEAD~2", history=4).markdown()
    lines = text.splitlines()
    assert lines[0].endswith("| Status    | Trend   |")
    assert "`▁▂▂▃█`" in lines[2]  # HEAD~5..HEAD~2, then the working tree
    with pytest.raises(UsageError) as raised:
        Report().metrics_diff(base={"a": 1}, head={"a": 2}, history=3)
    assert raised.value.parameter == "history"


def test_history_reads_from_one_git_process(history_repo, tmp_path):
    log = tmp_path / "git.log"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    probe = "from cml.report.history import metric_history; print(len(metric_history(20).commits))"
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert completed.stdout.strip() == "19"  # 18 commits with metrics of the last 20, then the working tree
    assert log.read_text().splitlines() == ["cat-file --batch"]
