"""``cml metrics history`` and ``cml metrics diff --history N`` end to end, in real git repositories."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import assert_image

ACCURACY = [0.60, 0.62, 0.61, 0.65, 0.70, 0.72, 0.71, 0.75, 0.78, 0.80]


@pytest.fixture
def trend_repo(repo):
    """Ten commits improving accuracy and loss, one commit without metrics.json, a modified working tree."""
    repo.write("README.md", "project")
    repo.commit("start")
    for index, accuracy in enumerate(ACCURACY):
        repo.write("metrics.json", json.dumps({"accuracy": accuracy, "loss": round(1 - accuracy, 2)}))
        repo.commit(f"train {index}")
    repo.write("metrics.json", json.dumps({"accuracy": 0.83, "loss": 0.17}))
    return repo


def test_history_markdown_table_then_commits_and_notes(trend_repo, run_cli):
    result = run_cli("metrics", "history", "--md")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "| Metric   |   First |   Last |   Change |   Min |   Max | Trend         |",
        "|:---------|--------:|-------:|---------:|------:|------:|:--------------|",
        "| accuracy |     0.6 |   0.83 |    +0.23 |   0.6 |  0.83 | `▁▂▁▃▄▅▄▆▆▇█` |",
        "| loss     |     0.4 |   0.17 |    -0.23 |  0.17 |   0.4 | `█▇█▆▅▄▅▃▃▂▁` |",
    ]
    assert lines[5].startswith("History: 10 commits of HEAD, ") and lines[5].endswith(", then the workspace  ")
    assert lines[6] == "1 commit without metrics.json skipped"
    assert result.stdout.endswith("\n\n")  # a Markdown block: what is appended next starts a new paragraph


def test_history_count_metrics_and_terminal_format(trend_repo, run_cli):
    result = run_cli("metrics", "history", "-n", "3", "acc*")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Metric", "First", "Last", "Change", "Min", "Max", "Trend"]
    assert lines[2].split() == ["accuracy", "0.75", "0.83", "+0.08", "0.75", "0.83", "▁▄▅█"]
    assert len([line for line in lines if line.startswith("loss")]) == 0


def test_history_in_ci_reads_the_target_branch(trend_repo, run_cli):
    trend_repo.git("update-ref", "refs/remotes/origin/main", "HEAD~5")
    ci = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}
    result = run_cli("metrics", "history", "-n", "2", "accuracy", env=ci)
    assert result.exit_code == 0, result.stderr
    assert "| accuracy |    0.65 |   0.83 |" in result.stdout  # origin/main~1, origin/main, then the workspace
    assert "History: 2 commits of origin/main, " in result.stdout


def test_history_json_has_the_series_and_shas(trend_repo, run_cli):
    result = run_cli("metrics", "history", "--json", "-n", "4", "loss")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    shas = trend_repo.git("rev-list", "-n", "4", "HEAD").split()[::-1]
    assert [commit["sha"] for commit in document["commits"]] == [*shas, None]
    assert document["metrics"] == {"metrics.json": {"loss": {
        "values": [0.29, 0.25, 0.22, 0.2, 0.17], "first": 0.29, "last": 0.17, "change": -0.12, "min": 0.17,
        "max": 0.29, "sparkline": "█▆▄▃▁"}}}


def test_history_plot_is_written_and_linked_after_the_table(trend_repo, run_cli):
    result = run_cli("metrics", "history", "--md", "-o", "plots/trend.png", "--report", "plots/report.md")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.endswith("1 commit without metrics.json skipped\n\n![Metric history](trend.png)\n\n")
    assert_image(trend_repo.path / "plots" / "trend.png", min_width=600)


def test_history_plot_extension_is_checked_before_any_work(trend_repo, run_cli):
    result = run_cli("metrics", "history", "-o", "trend.gif")
    assert result.exit_code != 0
    assert result.stderr == "cml: error: --output: 'trend.gif' must end in .png, .svg or .pdf\n"


def test_history_errors_name_the_option(trend_repo, run_cli):
    unknown = run_cli("metrics", "history", "f1")
    assert unknown.exit_code != 0
    assert unknown.stderr == ("cml: error: [METRIC]...: no numeric metric matches 'f1'; the metrics are "
                              "'accuracy', 'loss'\n")
    missing = run_cli("metrics", "history", "--rev", "origin/main")
    assert missing.stderr == ("cml: error: revision 'origin/main' is not in this clone; fetch its history first: git "
                              "fetch --depth=20 origin main:refs/remotes/origin/main (or fetch-depth: 0 in "
                              "actions/checkout)\n")
    nothing = run_cli("metrics", "history", "-f", "other.json")
    assert nothing.stderr.startswith("cml: error: other.json: not found in the last 11 commits of HEAD")


def test_history_warns_when_rows_are_capped(repo, run_cli):
    repo.write("metrics.json", json.dumps({f"m{index}": index for index in range(5)}))
    repo.commit()
    result = run_cli("metrics", "history", "--max-rows", "2")
    assert result.exit_code == 0
    assert "2 of 5 metrics shown" in result.stdout
    assert result.stderr == ("cml: warning: the table shows 2 of 5 metrics; name the metrics to show (METRIC…) or "
                             "raise --max-rows\n")


def test_history_escapes_metric_names_in_markdown(repo, run_cli):
    repo.write("metrics.json", json.dumps({"a|b": 1, "<script>x</script>": 2}))
    repo.commit()
    result = run_cli("metrics", "history", "--md")
    assert "| a\\|b " in result.stdout
    assert "&lt;script&gt;x&lt;/script&gt;" in result.stdout and "<script>" not in result.stdout


def test_diff_with_history_adds_a_trend_column(trend_repo, run_cli):
    result = run_cli("metrics", "diff", "--md", "--history", "5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "| Path         | Metric   |   HEAD |   workspace |   Change |   Change % | Status    | Trend    |\n"
        "|:-------------|:---------|-------:|------------:|---------:|-----------:|:----------|:---------|\n"
        "| metrics.json | accuracy |    0.8 |        0.83 |    +0.03 |     +3.75% | ✅ better | `▂▁▃▅▆█` |\n"
        "| metrics.json | loss     |    0.2 |        0.17 |    -0.03 |    -15.00% | ✅ better | `▇█▆▄▃▁` |\n"
        "\n"
    )


def test_diff_with_history_warns_of_skipped_commits_and_shallow_clones(trend_repo, run_cli, tmp_path, monkeypatch):
    result = run_cli("metrics", "diff", "--md", "--history", "20")
    assert result.stderr == "cml: warning: --history: 1 commit without metrics.json skipped\n"
    assert "`▁▂▁▃▄▅▄▆▆▇█`" in result.stdout
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{trend_repo.path}", str(clone)], check=True)
    monkeypatch.chdir(clone)
    shallow = run_cli("metrics", "diff", "--md", "--history", "5", "--all")
    assert shallow.stderr == ("cml: warning: --history: the history stops after 2 commits of 5: this clone is "
                              "shallow; fetch more with git fetch --deepen=3 (or fetch-depth: 0 in "
                              "actions/checkout)\n")
    assert "| metrics.json | accuracy |    0.8 |         0.8 |        0 |     +0.00% | unchanged | `▁██`   |" in \
        shallow.stdout


def test_history_of_a_repository_without_commits_says_so(repo, run_cli):
    repo.write("metrics.json", '{"accuracy": 0.5}')
    result = run_cli("metrics", "history")
    assert result.stderr == "cml: error: HEAD has no commit yet: commit the metrics files first\n"


def test_diff_with_history_json_and_terminal(trend_repo, run_cli):
    document = json.loads(run_cli("metrics", "diff", "--json", "--history", "2", "HEAD~1").stdout)
    assert document["metrics.json"]["accuracy"]["history"] == [0.75, 0.78, 0.83]
    table = run_cli("metrics", "diff", "--history", "2", "HEAD~1").stdout.splitlines()
    assert table[0].split()[-1] == "Trend" and table[2].split()[-1] == "▁▄█"


def test_diff_with_history_ends_with_the_head_revision(trend_repo, run_cli):
    document = json.loads(run_cli("metrics", "diff", "--json", "--history", "3", "HEAD~3", "--head", "HEAD~1").stdout)
    assert document["metrics.json"]["accuracy"]["history"] == [0.70, 0.72, 0.71, 0.78]


def test_history_report_link_from_the_environment(trend_repo, run_cli):
    result = run_cli("metrics", "history", "-o", "plots/trend.png", env={"CML_REPORT": "plots/report.md"})
    assert result.stdout.endswith("\n![Metric history](trend.png)\n\n")


def test_diff_without_history_is_unchanged(trend_repo, run_cli):
    plain = run_cli("metrics", "diff", "--md").stdout
    assert "Trend" not in plain
    assert plain.splitlines()[0] == ("| Path         | Metric   |   HEAD |   workspace |   Change |   Change % | "
                                     "Status    |")


def test_diff_history_needs_git_files_not_a_run_source(trend_repo, run_cli):
    trend_repo.write("dvclive/metrics.json", '{"accuracy": 0.9}')
    result = run_cli("metrics", "diff", "--dvclive", "dvclive", "--history", "3")
    assert result.exit_code != 0
    assert result.stderr == ("cml: error: --history: the history is read from git's metrics files, not from a run "
                             "source\n")


def git_logging_path(tmp_path):
    """A ``PATH`` whose ``git`` logs each invocation to the returned file, then runs the real git."""
    log = tmp_path / "git.log"
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}", log


def test_history_and_diff_history_take_one_git_process(trend_repo, tmp_path, run_process):
    path, log = git_logging_path(tmp_path)
    result = run_process("metrics", "history", "-n", "100", env={"PATH": path})
    assert result.exit_code == 0, result.stderr
    assert log.read_text().splitlines() == ["cat-file --batch"]

    log.unlink()
    run_process("metrics", "diff", env={"PATH": path})
    plain = log.read_text().splitlines()
    log.unlink()
    with_history = run_process("metrics", "diff", "--history", "50", env={"PATH": path})
    assert with_history.exit_code == 0, with_history.stderr
    assert log.read_text().splitlines() == [*plain, "cat-file --batch"]
