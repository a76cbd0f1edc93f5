"""``cml comment`` on GitLab CI, Bitbucket Pipelines and Gitea Actions, against stateful fakes."""

import base64

import pytest

from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab

from tests.fakes.ci_env import REPORT, SHA, bitbucket_env, gitea_env, gitlab_env


def test_gitlab_merge_request_note_created_then_updated_across_pages(serve, report, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "project_42_bot")
    server = serve(fake)
    for index in range(230):
        fake.store.add(("pr", 5), f"review {index}", "bob")
    env = gitlab_env(server, CI_MERGE_REQUEST_IID="5")
    first = run_cli("comment", "update", "report.md", env=env)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("https://gitlab.test/ml/models/-/merge_requests/5#note_")
    report.write_text("# Report\n\nsecond run\n")
    second = run_cli("comment", "update", "report.md", env=env)
    assert second.exit_code == 0, second.stderr
    notes = fake.store.on("pr", 5)
    assert len(notes) == 231 and notes[-1]["body"].startswith("# Report\n\nsecond run")
    assert first.stdout == second.stdout
    puts = [r for r in server.requests if r.method == "PUT"]
    assert len(puts) == 1 and puts[0].path.endswith(f"/notes/{notes[-1]['id']}")


def test_gitlab_commit_comments_cannot_be_edited_so_update_warns_and_creates(serve, report, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    server = serve(fake)
    result = run_cli("comment", "update", "report.md", "--target", "commit", env=gitlab_env(server))
    assert result.exit_code == 0, result.stderr
    assert "gitlab cannot edit commit comments" in result.stderr
    assert result.stdout == f"https://gitlab.test/ml/models/-/commit/{SHA}\n"
    assert len(fake.store.on("commit", SHA)) == 1


def test_gitlab_auto_target_finds_the_open_merge_request(serve, report, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    fake.pulls_by_sha[SHA] = [{"iid": 3, "state": "merged"}, {"iid": 8, "state": "opened"}]
    server = serve(fake)
    assert run_cli("comment", "create", "report.md", env=gitlab_env(server)).exit_code == 0
    assert len(fake.store.on("pr", 8)) == 1


def test_gitlab_job_token_is_not_enough(serve, report, run_cli, monkeypatch):
    server = serve(FakeGitLab())
    env = gitlab_env(server, CI_JOB_TOKEN="job-token-xyz")
    env.pop("REPO_TOKEN")
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 1
    assert "CI_JOB_TOKEN cannot post notes" in result.stderr and "'api' scope" in result.stderr
    assert server.count() == 0


@pytest.mark.parametrize("token, header_token", [
    ("repo-access-token-abc", "repo-access-token-abc"),
    ("alice:app-password-1", base64.b64encode(b"alice:app-password-1").decode()),
    (base64.b64encode(b"alice:app-password-1").decode(), base64.b64encode(b"alice:app-password-1").decode()),
])
def test_bitbucket_pull_request_comment_with_either_kind_of_token(serve, report, run_cli, token, header_token):
    fake = FakeBitbucket()
    fake.add_token(header_token, "alice")
    server = serve(fake)
    for index in range(120):
        fake.store.add(("pr", 4), f"note {index}", "bob")
    env = bitbucket_env(server, token, BITBUCKET_PR_ID="4")
    assert run_cli("comment", "update", "report.md", env=env).exit_code == 0
    report.write_text("# Report\n\nagain\n")
    result = run_cli("comment", "update", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    comments = fake.store.on("pr", 4)
    assert len(comments) == 121 and comments[-1]["body"].startswith("# Report\n\nagain")
    assert result.stdout.startswith("https://bitbucket.test/team/models/c/")
    assert token not in result.stdout + result.stderr


def test_bitbucket_long_report_fits_its_smaller_limit(serve, report, run_cli):
    fake = FakeBitbucket()
    fake.add_token("tok-123456", "alice")
    server = serve(fake)
    report.write_text("# Big\n\n" + "".join(f"line {i} {'y' * 60}\n\n" for i in range(2000)))
    result = run_cli("comment", "create", "report.md", env=bitbucket_env(server, "tok-123456", BITBUCKET_PR_ID="4"))
    assert result.exit_code == 0, result.stderr
    (comment,) = fake.store.on("pr", 4)
    assert len(comment["body"]) <= 32_767 and "This report was truncated" in comment["body"]


def test_gitea_pull_request_comment_create_and_update(serve, report, run_cli, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "gitea-actions")
    server = serve(fake)
    for index in range(75):
        fake.store.add(("pr", 2), f"c{index}", "bob")
    env = gitea_env(server, tmp_path)
    assert run_cli("comment", "update", "report.md", env=env).exit_code == 0
    report.write_text("# Report\n\nupdated\n")
    result = run_cli("comment", "update", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    comments = fake.store.on("pr", 2)
    assert len(comments) == 76 and comments[-1]["body"].startswith("# Report\n\nupdated")


def test_gitea_commit_target_is_explained(serve, report, run_cli, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "gitea-actions")
    server = serve(fake)
    result = run_cli("comment", "create", "report.md", "--target", "commit", env=gitea_env(server, tmp_path))
    assert result.exit_code == 1
    assert "Gitea has no commit comments" in result.stderr


def test_outside_ci_the_origin_remote_and_driver_options_are_used(serve, repo, run_cli):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "me")
    server = serve(fake)
    repo.git("remote", "add", "origin", "https://user:pw@git.example.test/ml/models.git")
    repo.write("report.md", REPORT)
    sha = repo.commit()
    fake.pulls_by_sha[sha] = [{"number": 6, "state": "open"}]
    unknown = run_cli("comment", "create", "report.md", env={"REPO_TOKEN": "gitea-token-123"})
    assert unknown.exit_code == 1 and "cannot tell which forge git.example.test runs; pass --driver" in unknown.stderr
    result = run_cli("comment", "create", "report.md", "--driver", "gitea", "--api-url", f"{server.url}/api/v1",
                     env={"REPO_TOKEN": "gitea-token-123"})
    assert result.exit_code == 0, result.stderr
    assert len(fake.store.on("pr", 6)) == 1


def test_gitlab_rate_limit_and_server_errors_use_the_shared_policy(serve, report, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    server = serve(fake)
    server.fail("POST", r"/notes$", status=429, headers={"Retry-After": "0"}, body={"message": "429 Too Many Requests"})
    server.fail("POST", r"/notes$", status=500, body={"message": "500 Internal Server Error"})
    result = run_cli("comment", "create", "report.md", env=gitlab_env(server, CI_MERGE_REQUEST_IID="5"))
    assert result.exit_code == 0, result.stderr
    assert server.count("POST") == 3 and len(fake.store.on("pr", 5)) == 1
    server.fail("POST", r"/notes$", status=502, body={"message": "502 Bad Gateway"}, times=10)
    failed = run_cli("comment", "create", "report.md", env=gitlab_env(server, CI_MERGE_REQUEST_IID="5",
                                                                      CML_HTTP_ATTEMPTS="2"))
    assert failed.exit_code == 1
    assert failed.stderr.startswith("cml: error: GitLab: commenting on pr/5: the server kept failing (502")
    assert "glpat-secret-token" not in failed.stderr
