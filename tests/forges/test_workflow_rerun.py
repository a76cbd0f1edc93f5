"""``cml workflow rerun`` on each forge, against the stateful fakes."""

import pytest

from tests.fakes.ci_env import SHA, TOKEN, bitbucket_env, gitea_env, gitlab_env
from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab

RUNS = "/repos/octo/models/actions/runs"


def run_requests(github) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in github.server.requests if "/actions/runs" in r.path]


def one_error_line(stderr: str) -> str:
    assert stderr.startswith("cml: error: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_github_completed_run_is_rerun_with_one_get_and_one_post(actions, github, run_cli):
    run = github.add_workflow_run(555, status="completed", conclusion="failure")
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "https://github.test/octo/models/actions/runs/555\n"
    assert run_requests(github) == [("GET", f"{RUNS}/555"), ("POST", f"{RUNS}/555/rerun")]
    assert github.workflow_events == [("rerun", 555)]
    assert run["status"] == "queued" and run["run_attempt"] == 2


def test_github_run_in_progress_is_cancelled_and_polled_before_the_rerun(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("CML_POLL_INTERVAL", "0.01")
    run = github.add_workflow_run(555, status="in_progress", conclusion=None, polls_to_stop=2)
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 0, result.stderr
    assert run_requests(github) == [
        ("GET", f"{RUNS}/555"), ("POST", f"{RUNS}/555/cancel"),
        ("GET", f"{RUNS}/555"), ("GET", f"{RUNS}/555"), ("GET", f"{RUNS}/555"),  # in progress, in progress, cancelled
        ("POST", f"{RUNS}/555/rerun"),
    ]
    assert github.workflow_events == [("cancel", 555), ("rerun", 555)]
    assert run["status"] == "queued" and run["run_attempt"] == 2
    assert result.stdout == "https://github.test/octo/models/actions/runs/555\n"


def test_github_queued_run_is_cancelled_too(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("CML_POLL_INTERVAL", "0")
    github.add_workflow_run(555, status="queued", conclusion=None, polls_to_stop=0)
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 0, result.stderr
    assert github.workflow_events == [("cancel", 555), ("rerun", 555)]


def test_github_gives_up_when_the_cancelled_run_does_not_stop(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("CML_POLL_INTERVAL", "0.01")
    monkeypatch.setenv("CML_POLL_TIMEOUT", "0.1")
    run = github.add_workflow_run(555, status="in_progress", conclusion=None, polls_to_stop=10**6)
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(
        "cml: error: GitHub: workflow run 555 is still 'in_progress' 0.1 s after cancelling it")
    assert github.workflow_events == [("cancel", 555)] and run["run_attempt"] == 1
    assert run_requests(github)[-1][0] == "GET"


def test_github_refused_cancel_of_a_run_still_running_is_reported(actions, github, run_cli):
    github.server.fail("POST", r"/cancel$", status=409, body={"message": "Cannot cancel this workflow run"})
    run = github.add_workflow_run(555, status="in_progress", conclusion=None)
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith(
        "cml: error: GitHub: cancelling workflow run 555: the request was refused (409")
    assert run_requests(github) == [("GET", f"{RUNS}/555"), ("POST", f"{RUNS}/555/cancel"), ("GET", f"{RUNS}/555")]
    assert run["run_attempt"] == 1


@pytest.mark.parametrize("how", ["option", "CML_WORKFLOW_ID", "CML_WORKFLOW_RERUN_ID"])
def test_github_id_overrides_the_current_run(how, actions, github, run_cli, monkeypatch):
    current = github.add_workflow_run(555)
    other = github.add_workflow_run(777)
    args = ["workflow", "rerun"]
    if how == "option":
        args += ["--id", "777"]
    else:
        monkeypatch.setenv(how, "777")
    result = run_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "https://github.test/octo/models/actions/runs/777\n"
    assert run_requests(github) == [("GET", f"{RUNS}/777"), ("POST", f"{RUNS}/777/rerun")]
    assert github.workflow_events == [("rerun", 777)]
    assert other["run_attempt"] == 2 and current["run_attempt"] == 1


def test_github_token_without_actions_write_is_explained(actions, github, run_cli):
    github.read_only_tokens.add(TOKEN)
    github.add_workflow_run(555)
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 1
    assert "403" in one_error_line(result.stderr) and "'actions: write'" in result.stderr
    assert TOKEN not in result.stderr
    assert github.workflow_events == []


def test_github_unknown_run_is_a_clear_404(actions, github, run_cli):
    result = run_cli("workflow", "rerun", "--id", "999")
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("cml: error: GitHub: reading workflow run 999: not found (404")
    assert run_requests(github) == [("GET", f"{RUNS}/999")]


def test_github_id_must_be_a_number(actions, github, run_cli):
    result = run_cli("workflow", "rerun", "--id", "abc")
    assert result.exit_code == 1
    assert "'abc' is not a workflow run id" in one_error_line(result.stderr)
    assert run_requests(github) == []


def test_no_run_id_is_a_one_line_usage_error(actions, github, run_cli, monkeypatch):
    monkeypatch.delenv("GITHUB_RUN_ID")
    result = run_cli("workflow", "rerun")
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("cml: error: --id: ")
    assert "pass --id" in result.stderr
    assert run_requests(github) == []


PIPELINES = "/api/v4/projects/42/pipelines"


@pytest.mark.parametrize("status, events", [
    ("running", [("cancel", 77), ("retry", 77)]),
    ("pending", [("cancel", 77), ("retry", 77)]),
    ("failed", [("retry", 77)]),
])
def test_gitlab_pipeline_is_cancelled_when_active_then_retried(status, events, serve, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    pipeline = fake.add_pipeline(77, status=status)
    server = serve(fake)
    result = run_cli("workflow", "rerun", env=gitlab_env(server))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "https://gitlab.test/ml/models/-/pipelines/77\n"
    assert fake.pipeline_events == events
    expected = [("GET", f"{PIPELINES}/77")] + [("POST", f"{PIPELINES}/77/{action}") for action, _ in events]
    assert [(r.method, r.path) for r in server.requests] == expected
    assert pipeline["status"] == "pending"


def test_gitlab_id_overrides_ci_pipeline_id(serve, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    fake.add_pipeline(77)
    fake.add_pipeline(78)
    server = serve(fake)
    result = run_cli("workflow", "rerun", env=gitlab_env(server, CML_WORKFLOW_ID="78"))
    assert result.exit_code == 0, result.stderr
    assert fake.pipeline_events == [("retry", 78)]
    assert result.stdout == "https://gitlab.test/ml/models/-/pipelines/78\n"


def test_bitbucket_starts_a_new_pipeline_for_the_same_target(serve, run_cli):
    fake = FakeBitbucket()
    fake.add_token("tok-123456", "alice")
    target = {"type": "pipeline_ref_target", "ref_type": "branch", "ref_name": "main",
              "selector": {"type": "custom", "pattern": "train"},
              "commit": {"type": "commit", "hash": SHA}}
    fake.add_pipeline("{p}", target)
    server = serve(fake)
    result = run_cli("workflow", "rerun", env=bitbucket_env(server, "tok-123456"))
    assert result.exit_code == 0, result.stderr
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/2.0/repositories/team/models/pipelines/%7Bp%7D"), ("POST", "/2.0/repositories/team/models/pipelines/"),
    ]
    old, new = fake.pipelines.values()
    assert old["uuid"] == "{p}" and new["uuid"] != "{p}"
    assert new["target"] == target and new["state"]["name"] == "PENDING"
    assert result.stdout == f"https://bitbucket.org/team/models/pipelines/results/{new['build_number']}\n"


def test_bitbucket_unknown_pipeline_is_a_clear_404(serve, run_cli):
    fake = FakeBitbucket()
    fake.add_token("tok-123456", "alice")
    server = serve(fake)
    result = run_cli("workflow", "rerun", "--id", "{nope}", env=bitbucket_env(server, "tok-123456"))
    assert result.exit_code == 1
    assert one_error_line(result.stderr).startswith("cml: error: Bitbucket: reading pipeline {nope}: not found (404")
    assert fake.pipelines == {} and server.count("POST") == 0


def test_gitea_has_no_rerun_api(serve, run_cli, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "bot")
    server = serve(fake)
    result = run_cli("workflow", "rerun", env=gitea_env(server, tmp_path))
    assert result.exit_code == 1
    assert one_error_line(result.stderr) == (
        "cml: error: Gitea/Forgejo has no API to re-run an Actions run; re-run run 9 from its page in the web UI\n")
    assert server.requests == []
