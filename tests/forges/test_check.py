"""``cml check create`` on each forge."""

import pytest

from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab
from tests.fakes.ci_env import HEAD_SHA, PAT, SHA, TOKEN, bitbucket_env, gitea_env, gitlab_env


def test_github_check_run_with_summary_and_conclusion(actions, github, run_cli):
    result = run_cli("check", "create", "report.md", "--title", "Model quality", "--conclusion", "failure")
    assert result.exit_code == 0, result.stderr
    (run,) = github.check_runs
    assert run["head_sha"] == HEAD_SHA and run["conclusion"] == "failure" and run["name"] == "Model quality"
    assert run["output"]["summary"].startswith("# Report")
    assert run["details_url"] == "https://github.test/octo/models/actions/runs/555"
    assert result.stdout == run["html_url"] + "\n"


def test_github_check_run_with_a_personal_token_explains_the_403(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("REPO_TOKEN", PAT)
    result = run_cli("check", "create", "report.md")
    assert result.exit_code == 1
    assert "check runs need the Actions GITHUB_TOKEN" in result.stderr and "personal access tokens are refused" in result.stderr
    assert TOKEN not in result.stderr and PAT not in result.stderr


def status_forge(forge: str, serve, tmp_path, **gitlab_variables):
    """A stateful fake of ``forge`` (gitlab, bitbucket or gitea) with a token, and its CI's environment."""
    if forge == "gitlab":
        fake = FakeGitLab()
        fake.add_token("glpat-secret-token", "bot")
        return fake, gitlab_env(serve(fake), **gitlab_variables)
    if forge == "bitbucket":
        fake = FakeBitbucket()
        fake.add_token("tok-123456", "alice")
        return fake, bitbucket_env(serve(fake), "tok-123456")
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "bot")
    return fake, gitea_env(serve(fake), tmp_path)


@pytest.mark.parametrize("forge", ["gitlab", "bitbucket", "gitea"])
def test_commit_status_elsewhere(forge, serve, report, run_cli, tmp_path):
    fake, env = status_forge(forge, serve, tmp_path, CI_JOB_URL="https://gitlab.test/ml/models/-/jobs/88")
    result = run_cli("check", "create", "report.md", "--conclusion", "failure", "--title", "CML", env=env)
    assert result.exit_code == 0, result.stderr
    ((sha, status),) = fake.statuses
    assert sha == SHA
    assert {"gitlab": "failed", "bitbucket": "FAILED", "gitea": "failure"}[forge] == status["state"]
    assert "Report" in status["description"]


def test_github_in_progress_check_is_completed_in_place(actions, github, run_cli):
    started = run_cli("check", "create", "report.md", "--title", "Training", "--status", "in_progress")
    assert started.exit_code == 0, started.stderr
    (run,) = github.check_runs
    assert run["status"] == "in_progress" and "conclusion" not in run
    done = run_cli("check", "create", "report.md", "--title", "Training", "--status", "completed",
                   "--conclusion", "failure")
    assert done.exit_code == 0, done.stderr
    assert github.check_runs == [run] and github.check_runs_updated == [run["id"]]
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert done.stdout == started.stdout == run["html_url"] + "\n"
    again = run_cli("check", "create", "report.md", "--title", "Training")
    assert again.exit_code == 0 and len(github.check_runs) == 2  # a completed run is never reopened
    assert github.check_runs[1]["status"] == "completed" and github.check_runs[1]["conclusion"] == "success"


@pytest.mark.parametrize("status", ["queued", "in_progress"])
def test_conclusion_of_an_unfinished_check_is_a_one_line_error(status, actions, github, run_cli):
    result = run_cli("check", "create", "report.md", "--status", status, "--conclusion", "failure")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: --conclusion: ") and result.stderr.count("\n") == 1
    assert "--status completed" in result.stderr and github.check_runs == []


@pytest.mark.parametrize("forge, states", [
    ("gitlab", {"queued": "pending", "in_progress": "running", "completed": "success"}),
    ("bitbucket", {"queued": "INPROGRESS", "in_progress": "INPROGRESS", "completed": "SUCCESSFUL"}),
    ("gitea", {"queued": "pending", "in_progress": "pending", "completed": "success"}),
])
def test_unfinished_checks_are_pending_or_running_statuses_elsewhere(forge, states, serve, report, run_cli, tmp_path):
    fake, env = status_forge(forge, serve, tmp_path)
    for status in states:
        result = run_cli("check", "create", "report.md", "--status", status, env=env)
        assert result.exit_code == 0, result.stderr
    assert [status["state"] for _, status in fake.statuses] == list(states.values())
