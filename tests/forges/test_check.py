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


@pytest.mark.parametrize("forge", ["gitlab", "bitbucket", "gitea"])
def test_commit_status_elsewhere(forge, serve, report, run_cli, tmp_path):
    if forge == "gitlab":
        fake = FakeGitLab()
        fake.add_token("glpat-secret-token", "bot")
        env = gitlab_env(serve(fake), CI_JOB_URL="https://gitlab.test/ml/models/-/jobs/88")
    elif forge == "bitbucket":
        fake = FakeBitbucket()
        fake.add_token("tok-123456", "alice")
        env = bitbucket_env(serve(fake), "tok-123456")
    else:
        fake = FakeGitea()
        fake.add_token("gitea-token-123", "bot")
        env = gitea_env(serve(fake), tmp_path)
    result = run_cli("check", "create", "report.md", "--conclusion", "failure", "--title", "CML", env=env)
    assert result.exit_code == 0, result.stderr
    ((sha, status),) = fake.statuses
    assert sha == SHA
    assert {"gitlab": "failed", "bitbucket": "FAILED", "gitea": "failure"}[forge] == status["state"]
    assert "Report" in status["description"]
