"""``cml comment create|update`` against a stateful fake GitHub, configured as Actions configures a job."""

import json
import re
import subprocess
import sys

import pytest

from tests.fakes.ci_env import HEAD_SHA, PAT, TOKEN


def test_create_posts_on_the_pull_request_with_one_request(actions, github, run_cli, tmp_path):
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    (comment,) = github.comments_on(number=7)
    assert result.stdout == comment["html_url"] + "\n"
    assert comment["body"].startswith("# Report\n\n| a | b |")
    assert re.search(rf"\n\n\[//\]: # \(cml-report label= sha={HEAD_SHA} post=[0-9a-f]{{12}}\)\n\Z", comment["body"])
    assert github.server.count() == 1
    assert (tmp_path / "summary.md").read_text().startswith("# Report")
    assert result.stderr == ""


def test_update_finds_its_comment_past_the_first_pages(actions, github, run_cli):
    for index in range(249):
        github.add_comment(7, f"human comment {index}", "bob")
    github.add_comment(7, "old report\n\n[//]: # (cml-report label=train sha=abc)\n", "github-actions[bot]")
    result = run_cli("comment", "update", "report.md", "--watermark-title", "{workflow}")
    assert result.exit_code == 0, result.stderr
    comments = github.comments_on(number=7)
    assert len(comments) == 250
    assert comments[-1]["body"].startswith("# Report") and "label=train" in comments[-1]["body"]
    # One GraphQL query for who the token is (it answers for installation tokens too), three pages, one edit.
    assert [(r.method, r.path == "/graphql") for r in github.server.requests] == [
        ("POST", True), ("GET", False), ("GET", False), ("GET", False), ("PATCH", False)]
    assert all(r.query.get("per_page") == ["100"] for r in github.server.requests if r.method == "GET")


def test_update_creates_when_nothing_matches_and_ignores_other_labels_and_authors(actions, github, run_cli):
    github.add_comment(7, "other label\n\n[//]: # (cml-report label=eval sha=abc)\n", "github-actions[bot]")
    github.add_comment(7, "copied by a human\n\n[//]: # (cml-report label= sha=abc)\n", "bob")
    assert run_cli("comment", "update", "report.md").exit_code == 0
    bodies = [c["body"] for c in github.comments_on(number=7)]
    assert len(bodies) == 3 and bodies[-1].startswith("# Report")
    assert bodies[0].startswith("other label") and bodies[1].startswith("copied by a human")


def test_update_replaces_an_iterative_cml_watermark(actions, github, run_cli):
    legacy = '![](https://cml.dev/watermark.png#0123abc "CML watermark my\\_label")'
    github.add_comment(7, f"old\n\n{legacy}", "github-actions[bot]")
    assert run_cli("comment", "update", "report.md", "--watermark-title", "my_label").exit_code == 0
    (comment,) = github.comments_on(number=7)
    assert "cml.dev" not in comment["body"] and "label=my_label" in comment["body"]


def test_duplicates_from_a_race_collapse_into_the_oldest(actions, github, run_cli):
    marker = "[//]: # (cml-report label= sha=abc)"
    first = github.add_comment(7, f"job A\n\n{marker}\n", "github-actions[bot]")
    github.add_comment(7, f"job B\n\n{marker}\n", "github-actions[bot]")
    assert run_cli("comment", "update", "report.md").exit_code == 0
    (comment,) = github.comments_on(number=7)
    assert comment["id"] == first["id"] and comment["body"].startswith("# Report")


def test_personal_token_filters_by_its_user(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("REPO_TOKEN", PAT)
    github.add_comment(7, "bot\n\n[//]: # (cml-report label= sha=abc)\n", "github-actions[bot]")
    mine = github.add_comment(7, "alice\n\n[//]: # (cml-report label= sha=abc)\n", "alice")
    assert run_cli("comment", "update", "report.md").exit_code == 0
    assert github.comments[mine["id"]]["body"].startswith("# Report")
    assert [r.path for r in github.server.requests][0] == "/graphql"


@pytest.mark.parametrize(
    "target, pulls, expected",
    [
        ("auto", [{"number": 9, "state": "open"}], ("issue", 9)),
        ("auto", [], ("commit", HEAD_SHA)),
        ("pr", [{"number": 3, "state": "closed"}, {"number": 11, "state": "open"}], ("issue", 11)),
        ("commit", [], ("commit", HEAD_SHA)),
        ("issue/5", [], ("issue", 5)),
        ("pr/12", [], ("issue", 12)),
        ("commit/abcdef1", [], ("commit", "abcdef1")),
    ],
)
def test_targets_on_a_push_event(actions, github, run_cli, tmp_path, target, pulls, expected):
    (tmp_path / "event.json").write_text(json.dumps({"after": HEAD_SHA}))
    github.pulls_by_sha[HEAD_SHA] = [{**p, "id": p["number"], "url": "u", "html_url": "h"} for p in pulls]
    actions_sha = HEAD_SHA
    result = run_cli("comment", "create", "report.md", "--target", target, env={"GITHUB_SHA": actions_sha})
    assert result.exit_code == 0, result.stderr
    kind, ref = expected
    comments = github.comments_on(sha=ref) if kind == "commit" else github.comments_on(number=ref)
    assert len(comments) == 1


def test_pr_target_without_a_pull_request_fails(actions, github, run_cli, tmp_path):
    (tmp_path / "event.json").write_text(json.dumps({"after": HEAD_SHA}))
    result = run_cli("comment", "create", "report.md", "--target", "pr", env={"GITHUB_SHA": HEAD_SHA})
    assert result.exit_code == 1
    assert result.stderr == f'cml: error: --target: PR for commit sha "{HEAD_SHA}" not found\n'
    assert github.comments == {}


@pytest.mark.parametrize("target", ["nonsense", "issue/x", "pr/0", "commit/xyz", "PR"])
def test_unsupported_targets(actions, github, run_cli, target):
    result = run_cli("comment", "create", "report.md", "--target", target)
    if target == "PR":
        assert result.exit_code == 0
        return
    assert result.exit_code == 1
    assert result.stderr.startswith(f'cml: error: --target: unsupported comment target "{target}"')
    assert github.server.count() == 0


def test_long_reports_are_cut_and_point_at_the_job_summary(actions, github, run_cli, tmp_path):
    rows = "".join(f"| row {i} | {'x' * 80} |\n" for i in range(1500))
    (tmp_path / "report.md").write_text(f"# Big\n\n<details><summary>rows</summary>\n\n| a | b |\n|---|---|\n{rows}\n</details>\n")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    (comment,) = github.comments_on(number=7)
    body = comment["body"]
    assert len(body) <= 65_536 - 4096
    assert "</details>" in body.split("This report was truncated")[0][-40:]
    assert "[job summary](https://github.test/octo/models/actions/runs/555)" in body
    assert "longer than github's comment limit" in result.stderr
    assert (tmp_path / "summary.md").read_text().count("| row ") == 1500


def test_deprecated_options_still_work(actions, github, run_cli):
    result = run_cli("comment", "create", "report.md", "--commit-sha", "abcdef1")
    assert result.exit_code == 0
    assert 'Deprecation warning: use --target="commit/abcdef1" instead of --commit-sha=abcdef1' in result.stderr
    assert len(github.comments_on(sha="abcdef1")) == 1
    assert "sha=abcdef1" in github.comments_on(sha="abcdef1")[0]["body"]


def test_rm_watermark_with_update_is_refused(actions, github, run_cli):
    result = run_cli("comment", "update", "report.md", "--rm-watermark")
    assert result.exit_code == 1
    assert "watermarks are mandatory for updatable comments" in result.stderr
    assert github.server.count() == 0


def test_enterprise_server_api_prefix(github, actions, run_cli, monkeypatch):
    github.prefix = "/api/v3"
    monkeypatch.setenv("GITHUB_API_URL", github.base_url + "/api/v3")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    assert github.server.requests[0].path == "/api/v3/repos/octo/models/issues/7/comments"


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502, "body": {"message": "Bad Gateway"}},
        {"status": 429, "headers": {"Retry-After": "1"}, "body": {"message": "Too many requests"}},
        {"status": 403, "headers": {"Retry-After": "1"}, "body": {"message": "You have exceeded a secondary rate limit"}},
        {"status": 403, "headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"},
         "body": {"message": "API rate limit exceeded"}},
        {"reset": True},
        {"delay": 3.0},
    ],
    ids=["502", "429-retry-after", "secondary-rate-limit", "primary-rate-limit", "connection-reset", "slow"],
)
def test_transient_failures_are_retried(actions, github, run_cli, monkeypatch, fault):
    monkeypatch.setenv("CML_HTTP_TIMEOUT", "1")
    github.server.fail("POST", r"/issues/7/comments$", **fault)
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    # a POST that timed out may still land later on the server; every other fault leaves one comment
    expected = range(1, 3) if fault.get("delay") else range(1, 2)
    assert len(github.comments_on(number=7)) in expected


def test_persistent_failure_is_one_line_and_keeps_the_token_secret(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("CML_HTTP_ATTEMPTS", "3")
    github.server.fail("POST", r"/issues/7/comments$", status=503, body={"message": "Service Unavailable"}, times=10)
    result = run_cli("comment", "create", "report.md", "-v")
    assert result.exit_code == 1
    assert "cml: error: GitHub: commenting on pr/7: the server kept failing (503 Service Unavailable)" in result.stderr
    assert github.server.count("POST") == 3
    assert TOKEN not in result.stdout + result.stderr


def test_bad_token_is_explained(actions, github, run_cli, monkeypatch):
    monkeypatch.setenv("REPO_TOKEN", "ghp_WrongToken999999")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: GitHub: commenting on pr/7: the token was rejected (401 Bad credentials); "
                             "check that it is set and not expired\n")


def test_missing_token_and_missing_report(actions, github, run_cli, monkeypatch):
    monkeypatch.delenv("REPO_TOKEN")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 1 and "no token: set REPO_TOKEN" in result.stderr
    missing = run_cli("comment", "create", "nope.md", env={"REPO_TOKEN": TOKEN})
    assert missing.exit_code == 1 and missing.stderr.startswith("cml: error: nope.md: no such file")
    assert github.server.count() == 0


def test_token_never_appears_in_a_subprocess_run(actions, github, tmp_path):
    github.server.fail("POST", r"/issues/7/comments$", status=500, body={"message": f"echo {TOKEN}"}, times=10)
    env = {**actions, "CML_HTTP_ATTEMPTS": "2", "PATH": __import__("os").environ["PATH"]}
    completed = subprocess.run([sys.executable, "-m", "cml", "-v", "comment", "create", "report.md", "--token", TOKEN],
                               capture_output=True, text=True, env=env, cwd=tmp_path)
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    assert TOKEN not in output and "***" in output
