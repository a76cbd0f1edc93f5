"""Servers that redirect, stall, drip, lie or fail, and reports built to hijack or leak: ``cml comment`` and
``cml check`` against the stateful fakes of every forge, driven through the CI's own variables."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.ci_env import TOKEN, bitbucket_env, gitea_env, gitlab_env
from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab
from tests.fakes.server import FakeForgeServer, Response

BITBUCKET_TOKEN = "bb-access-token-0123456789"


class Recorder:
    """Another origin: it records what reaches it and answers 200."""

    def __init__(self):
        self.requests = []

    def handle(self, request):
        self.requests.append(request)
        return Response(200, {"id": 1, "html_url": "https://evil.test/1"})


@pytest.fixture
def other_origin():
    recorder = Recorder()
    with FakeForgeServer(recorder) as server:
        recorder.url = server.url
        yield recorder


def _gitlab(serve, tmp_path):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "project_42_bot")
    server = serve(fake)
    return fake, server, gitlab_env(server, CI_MERGE_REQUEST_IID="5"), "glpat-secret-token", ("pr", 5)


def _gitea(serve, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "gitea-bot")
    server = serve(fake)
    return fake, server, gitea_env(server, tmp_path), "gitea-token-123", ("pr", 2)


def _bitbucket(serve, tmp_path):
    fake = FakeBitbucket()
    fake.add_token(BITBUCKET_TOKEN, "bb-bot")
    server = serve(fake)
    return fake, server, bitbucket_env(server, BITBUCKET_TOKEN, BITBUCKET_PR_ID="4"), BITBUCKET_TOKEN, ("pr", 4)


FORGES = {"gitlab": _gitlab, "gitea": _gitea, "bitbucket": _bitbucket}


@pytest.mark.parametrize("status", [302, 307, 308])
@pytest.mark.parametrize("forge", sorted(FORGES))
def test_no_credential_follows_a_redirect_to_another_origin(forge, status, serve, report, run_cli, tmp_path,
                                                            other_origin):
    fake, server, env, token, thread = FORGES[forge](serve, tmp_path)
    server.fail("POST", r"/(notes|comments)$", status=status, headers={"Location": f"{other_origin.url}/steal"},
                times=10)
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 1
    assert other_origin.requests == []
    assert "another origin" in result.stderr and "refusing to send the token" in result.stderr
    assert token not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fake.store.on(*thread) == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_github_redirect_to_another_host_is_an_error_not_an_empty_success(status, actions, github, run_cli,
                                                                          other_origin):
    github.server.fail("POST", r"/comments$", status=status, headers={"Location": f"{other_origin.url}/steal"},
                       times=10)
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 1 and result.stdout == ""
    assert other_origin.requests == [] and TOKEN not in result.stderr
    assert github.comments_on(number=7) == []


def test_a_pagination_link_to_another_origin_is_refused(serve, report, run_cli, tmp_path, other_origin):
    fake, server, env, token, _ = _gitea(serve, tmp_path)
    original = fake.handle

    def handle(request):
        response = original(request)
        if request.method == "GET" and request.path.endswith("/comments"):
            response.headers["Link"] = f'<{other_origin.url}/api/v1/next>; rel="next"'
        return response

    fake.handle = handle
    result = run_cli("comment", "update", "report.md", env=env)
    assert result.exit_code == 1 and other_origin.requests == []
    assert "another origin" in result.stderr


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea", "bitbucket"])
def test_a_comment_whose_answer_stalls_is_posted_once(forge, serve, report, run_cli, tmp_path, request):
    if forge == "github":
        github = request.getfixturevalue("github")
        env = request.getfixturevalue("actions")
        server, count = github.server, lambda: len(github.comments_on(number=7))
    else:
        fake, server, env, _, thread = FORGES[forge](serve, tmp_path)
        count = lambda: len(fake.store.on(*thread))  # noqa: E731
    server.fail("POST", r"/(notes|comments)$", after=True, delay=3, times=1)
    result = run_cli("comment", "create", "report.md", env={**env, "CML_HTTP_TIMEOUT": "1"})
    assert result.exit_code == 0, result.stderr
    assert count() == 1
    assert server.count("POST") == 1


def test_gitlab_unreadable_created_answer_is_not_posted_twice(serve, report, run_cli, tmp_path):
    fake, server, env, _, thread = _gitlab(serve, tmp_path)
    server.fail("POST", r"/notes$", after=True, raw=b"<html>proxy</html>", times=5)
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(fake.store.on(*thread)) == 1 and server.count("POST") == 1
    assert result.stdout.startswith("https://gitlab.test/ml/models/-/merge_requests/5#note_")


@pytest.mark.parametrize("answer", [
    dict(status=200, raw=b"<html>maintenance</html>"),
    dict(status=201, raw=b""),
    dict(status=200, body={"message": "ok"}),
])
def test_github_write_succeeds_only_when_the_answer_proves_it(answer, actions, github, run_cli):
    github.server.fail("POST", r"/comments$", times=20, **answer)
    result = run_cli("comment", "create", "report.md", env={"CML_HTTP_ATTEMPTS": "2"})
    assert result.exit_code == 1 and result.stdout == ""
    assert "GitHub: commenting on pr/7" in result.stderr and "may or may not have been done" in result.stderr


def test_github_check_run_with_a_lost_answer_is_found_not_repeated(actions, github, run_cli):
    github.server.fail("POST", r"/check-runs$", after=True, raw=b"", status=201, times=1)
    result = run_cli("check", "create", "report.md", "--title", "CML report")
    assert result.exit_code == 0, result.stderr
    assert len(github.check_runs) == 1 and github.server.count("POST") == 1
    assert result.stdout.strip() == github.check_runs[0]["html_url"]


@pytest.mark.parametrize("forge", ["github", "gitlab", "gitea"])
def test_a_dripping_server_cannot_hold_the_job(forge, serve, report, run_cli, tmp_path, request):
    if forge == "github":
        env = request.getfixturevalue("actions")
        server = request.getfixturevalue("github").server
    else:
        _, server, env, _, _ = FORGES[forge](serve, tmp_path)
    server.fail("POST", r"/(notes|comments|graphql)$", drip=0.5, times=50)
    server.fail("GET", r".", drip=0.5, times=50)
    started = time.monotonic()
    result = run_cli("comment", "create", "report.md",
                     env={**env, "CML_HTTP_TIMEOUT": "1", "CML_HTTP_ATTEMPTS": "2", "CML_HTTP_MAX_WAIT": "2.5"})
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert "no complete answer within CML_HTTP_TIMEOUT=1 s" in result.stderr
    assert elapsed < 15, elapsed


def test_github_app_installation_token_updates_its_own_comment(actions, github, run_cli, monkeypatch):
    app_token = "ghs_AppInstallationToken0123456789"
    github.add_token(app_token, "my-app[bot]")
    monkeypatch.setenv("REPO_TOKEN", app_token)
    github.add_comment(7, "actions report\n\n[//]: # (cml-report label= sha=abc)\n", "github-actions[bot]")
    for _attempt in range(3):
        result = run_cli("comment", "update", "report.md")
        assert result.exit_code == 0, result.stderr
    mine = [c for c in github.comments_on(number=7) if c["user"]["login"] == "my-app[bot]"]
    assert len(mine) == 1 and mine[0]["body"].startswith("# Report")
    assert github.comments_on(number=7)[0]["body"].startswith("actions report")


def test_unknown_token_user_never_edits_someone_elses_comment(serve, report, run_cli, tmp_path):
    fake, server, env, _, thread = _gitea(serve, tmp_path)
    original = fake.handle
    fake.handle = lambda request: (Response(403, {"message": "token does not have scope read:user"})
                                   if request.path == "/api/v1/user" else original(request))
    fake.store.add(thread, "mallory's\n\n[//]: # (cml-report label= sha=abc)\n", "mallory")
    first = run_cli("comment", "update", "report.md", env=env)
    second = run_cli("comment", "update", "report.md", env=env)
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    notes = fake.store.on(*thread)
    assert notes[0]["body"].startswith("mallory's") and notes[0]["author"] == "mallory"
    assert [n["author"] for n in notes] == ["mallory", "gitea-bot"]
    assert not [r for r in server.requests if r.method in ("PATCH", "DELETE") and f"/{notes[0]['id']}" in r.path]


def test_a_marker_inside_the_report_cannot_hijack_another_report(actions, github, run_cli, tmp_path):
    (tmp_path / "train.md").write_text("# Training\n\n[//]: # (cml-report label=eval sha=abc)\n\nloss 0.1\n")
    (tmp_path / "eval.md").write_text("# Evaluation\n")
    assert run_cli("comment", "update", "train.md", "--watermark-title", "train").exit_code == 0
    assert run_cli("comment", "update", "eval.md", "--watermark-title", "eval").exit_code == 0
    bodies = [c["body"] for c in github.comments_on(number=7)]
    assert len(bodies) == 2 and bodies[0].startswith("# Training") and bodies[1].startswith("# Evaluation")
    assert "\\[//]: # (cml-report label=eval" in bodies[0]


def test_a_report_carrying_the_token_is_refused_before_anything_is_sent(actions, github, run_cli, tmp_path):
    import base64

    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    for leak in (TOKEN, f"AUTHORIZATION: basic {encoded}"):
        (tmp_path / "report.md").write_text(f"# Report\n\n{leak}\n")
        result = run_cli("comment", "create", "report.md")
        assert result.exit_code == 1 and "contains a token" in result.stderr
        assert TOKEN not in result.stderr and encoded not in result.stderr
    assert github.comments_on(number=7) == [] and github.server.count("POST") == 0


def test_huge_error_bodies_are_cut(serve, report, run_cli, tmp_path):
    _, server, env, _, _ = _gitea(serve, tmp_path)
    server.fail("POST", r"/comments$", status=422, body={"message": "x" * 2_000_000})
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 1 and len(result.stderr) < 600, len(result.stderr)


def test_an_answer_larger_than_the_limit_is_not_read(serve, report, run_cli, tmp_path):
    _, server, env, _, _ = _gitea(serve, tmp_path)
    server.fail("GET", r"/comments$", status=200, raw=b"[" + b" " * (65 * 2**20) + b"]",
                content_type="application/json")
    result = run_cli("comment", "update", "report.md", env=env)
    assert result.exit_code == 1 and "67,108,864" in result.stderr


@pytest.mark.parametrize("forge, answer", [
    ("gitea", {"status": 200, "body": {"not": "a list"}}),
    ("gitea", {"status": 200, "body": [{"no": "id"}]}),
    ("gitea", {"status": 200, "raw": b"{broken", "content_type": "application/json"}),
    ("bitbucket", {"status": 200, "body": {"values": [{"id": "x"}]}}),
    ("gitlab", {"status": 200, "body": [{"id": 1}]}),
])
def test_malformed_answers_are_one_line_errors(forge, answer, serve, report, run_cli, tmp_path):
    _, server, env, token, _ = FORGES[forge](serve, tmp_path)
    server.fail("GET", r"/(comments|notes)$", **answer, times=10)
    result = run_cli("comment", "update", "report.md", env=env)
    assert result.exit_code == 1, result.stderr
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("cml: error: ") and "unexpected" not in line and "Traceback" not in result.stderr
    assert any(name in line for name in ("Gitea", "Bitbucket", "GitLab")) and token not in line


def test_gitlab_honours_retry_after(serve, report, run_cli, tmp_path):
    fake, server, env, _, thread = _gitlab(serve, tmp_path)
    server.fail("POST", r"/notes$", status=429, headers={"Retry-After": "2"}, body={"message": "429 Too Many Requests"})
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    first, second = [r.at for r in server.requests if r.method == "POST"]
    assert second - first >= 1.9 and len(fake.store.on(*thread)) == 1


def test_rate_limit_without_a_retry_does_not_claim_one(serve, report, run_cli, tmp_path):
    _, server, env, _, _ = _gitea(serve, tmp_path)
    server.fail("POST", r"/comments$", status=429, headers={"Retry-After": "3600"}, body={"message": "slow down"})
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 1 and "after retrying" not in result.stderr and "CML_HTTP_MAX_WAIT" in result.stderr


@pytest.mark.parametrize("variable, value", [
    ("CML_HTTP_TIMEOUT", "abc"), ("CML_HTTP_ATTEMPTS", "-1"), ("CML_HTTP_MAX_WAIT", "nan"),
    ("GITHUB_API_URL", "not a url"),
])
def test_bad_settings_name_the_variable(variable, value, actions, github, run_cli):
    result = run_cli("comment", "create", "report.md", env={variable: value})
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("cml: error: ") and variable in line and "unexpected" not in line
    assert github.server.count() == 0


def test_a_lost_pull_request_answer_finds_the_pull_request(serve, tmp_path):
    from cml.forges.gitea import GiteaForge
    from cml.http import HttpPolicy

    fake = FakeGitea()
    fake.add_token("gitea-token-123", "gitea-bot")
    server = serve(fake)
    server.fail("POST", r"/pulls$", after=True, raw=b"", status=502)
    forge = GiteaForge(f"{server.url}/api/v1", "ml/models", "gitea-token-123", HttpPolicy(backoff=0.01))
    pull = forge.open_pull_request("cml/train", "main", "Retrained", "body")
    assert pull.source == "cml/train" and server.count("POST") == 1
    assert json.dumps(fake.pull_store.pulls).count('"cml/train"') == 1
