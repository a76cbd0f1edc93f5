"""The installed command as CI runs it: a subprocess, output contract on real pipes."""

import json


def test_diff_in_ci_appends_markdown_to_a_report(repo, run_process):
    repo.write("metrics.json", '{"loss": 0.3}')
    repo.commit()
    repo.write("metrics.json", '{"loss": 0.2}')
    result = run_process("metrics", "diff", "HEAD", env={"CI": "true"})
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines()[2] == "| metrics.json | loss     |    0.3 |         0.2 |     -0.1 |    -33.33% | ✅ better |"


def test_errors_are_one_line_without_traceback(repo, run_process):
    repo.write("metrics.json", '{"a": [1, }')
    result = run_process("metrics", "show", "metrics.json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "cml: error: metrics.json:1:11: invalid JSON: Expecting value\n"


def test_quality_gate_exit_code_is_2(repo, run_process):
    repo.write("metrics.json", '{"accuracy": 0.9}')
    repo.commit()
    repo.write("metrics.json", '{"accuracy": 0.8}')
    result = run_process("metrics", "diff", "--json", "--fail-on", "accuracy<-0.05")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["metrics.json"]["accuracy"]["status"] == "worse"
    assert result.stderr.startswith("cml: error: quality gate failed: metrics.json:accuracy changed by -0.1")


def test_outside_a_git_repository(tmp_path, run_process, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics.json").write_text('{"a": 1}')
    result = run_process("metrics", "diff", "HEAD", "metrics.json")
    assert result.exit_code == 1
    assert result.stderr == f"cml: error: {tmp_path.resolve()} is not inside a git repository; run cml in your project's clone\n"
