"""After ``cml ci``, a plain ``git push`` authenticates with the job's token, which is stored nowhere: a credential
helper configured for the forge's URL reads it from the environment of the git process."""

import base64
import os
import subprocess

import pytest

from tests.fakes.ci_env import TOKEN
from tests.fakes.git_http import GitHttpServer


def git(*args, cwd, env=None, check=True):
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


@pytest.fixture
def served_clone(tmp_path, monkeypatch):
    """A clone (the test runs in it) of a bare repository, and a function serving the bare one over HTTP."""
    root = tmp_path / "server"
    bare = root / "octo" / "models.git"
    bare.mkdir(parents=True)
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "metrics.json").write_text("{}\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    monkeypatch.chdir(work)
    servers = []

    def serve(user, password):
        server = GitHttpServer(str(root), user, password).__enter__()
        servers.append(server)
        return server

    yield work, bare, serve
    for server in servers:
        server.__exit__()


def secrets_in(text, *secrets):
    encoded = [base64.b64encode(f"{user}:{secret}".encode()).decode() for secret in secrets
               for user in ("x-access-token", "oauth2", "gitlab-ci-token")]
    return [s for s in (*secrets, *encoded) if s in text]


def test_a_plain_git_push_after_cml_ci_uses_the_token_from_the_environment(served_clone, run_cli, monkeypatch):
    work, bare, serve = served_clone
    server = serve("x-access-token", TOKEN)
    url = f"{server.url}/octo/models.git"
    git("remote", "add", "origin", url, cwd=work)
    # actions/checkout left the workflow's GITHUB_TOKEN in an extra header; REPO_TOKEN is another token.
    checkout = base64.b64encode(b"x-access-token:ghs_CheckoutToken0000000000").decode()
    git("config", "--local", f"http.{server.url}/.extraheader", f"AUTHORIZATION: basic {checkout}", cwd=work)
    for name, value in {"CI": "true", "GITHUB_ACTIONS": "true", "REPO_TOKEN": TOKEN}.items():
        monkeypatch.setenv(name, value)

    result = run_cli("ci")
    assert result.exit_code == 0, result.stderr
    assert "credential helper" in result.stderr and secrets_in(result.stdout + result.stderr, TOKEN) == []

    (work / "model.txt").write_text("weights\n")
    git("add", "model.txt", cwd=work)
    git("commit", "-q", "-m", "model", cwd=work)
    push = git("push", "-q", "origin", "HEAD:refs/heads/results", cwd=work, check=False)
    assert push.returncode == 0, push.stderr
    assert git("log", "-1", "--format=%s", "results", cwd=bare).stdout.strip() == "model"
    assert git("fetch", "-q", "origin", cwd=work, check=False).returncode == 0

    config = (work / ".git" / "config").read_text()
    assert secrets_in(config, TOKEN) == [] and "extraheader" not in config
    assert git("remote", "get-url", "origin", cwd=work).stdout.strip() == url
    assert secrets_in(push.stderr, TOKEN) == []

    # Another step without the token: git is told where the token should be, and nothing else is tried.
    monkeypatch.delenv("REPO_TOKEN")
    refused = git("push", "-q", "origin", "HEAD:refs/heads/other", cwd=work, check=False)
    assert refused.returncode != 0 and "set REPO_TOKEN" in refused.stderr


def test_on_gitlab_the_job_token_leaves_the_remote_url_and_a_token_given_only_by_option_is_warned_about(
        served_clone, run_cli, monkeypatch):
    work, bare, serve = served_clone
    job_token = "glcbt-JobToken1234567890"
    server = serve("gitlab-ci-token", job_token)
    host = server.url.removeprefix("http://")
    git("remote", "add", "origin", f"http://gitlab-ci-token:{job_token}@{host}/octo/models.git", cwd=work)
    for name, value in {"CI": "true", "GITLAB_CI": "true", "CI_JOB_TOKEN": job_token}.items():
        monkeypatch.setenv(name, value)

    result = run_cli("ci", "--token", "glpat-OnlyOnTheCommandLine0")
    assert result.exit_code == 0, result.stderr
    assert "warning: the --token token is not in this job's environment" in result.stderr
    assert secrets_in(result.stdout + result.stderr, job_token, "glpat-OnlyOnTheCommandLine0") == []
    assert git("remote", "get-url", "origin", cwd=work).stdout.strip() == f"{server.url}/octo/models.git"
    config = (work / ".git" / "config").read_text()
    assert secrets_in(config, job_token, "glpat-OnlyOnTheCommandLine0") == []

    push = git("push", "-q", "origin", "HEAD:refs/heads/results", cwd=work, check=False)  # CI_JOB_TOKEN, as before
    assert push.returncode == 0, push.stderr
    assert git("rev-parse", "results", cwd=bare).stdout == git("rev-parse", "HEAD", cwd=work).stdout


def test_the_helper_answers_gits_protocol_with_the_forges_user_name():
    from cml.workspace import credential_answer

    assert credential_answer("github", "get", {"GITHUB_TOKEN": "g", "REPO_TOKEN": "r"}) == "username=x-access-token\npassword=r\n"
    assert credential_answer("gitlab", "get", {"GITLAB_TOKEN": "glpat"}) == "username=oauth2\npassword=glpat\n"
    assert credential_answer("gitlab", "get", {"CI_JOB_TOKEN": "job"}) == "username=gitlab-ci-token\npassword=job\n"
    assert credential_answer("bitbucket", "get", {"BITBUCKET_TOKEN": "bb"}) == "username=x-token-auth\npassword=bb\n"
    assert credential_answer("bitbucket", "get", {"REPO_TOKEN": "me:app-pass"}) == "username=me\npassword=app-pass\n"
    assert credential_answer("github", "store", {"REPO_TOKEN": "r"}) == ""
    assert credential_answer("github", "get", {"REPO_TOKEN": "r\nhost=evil"}) == ""
