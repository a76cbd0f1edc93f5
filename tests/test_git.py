"""The one way cml runs git (:func:`cml.git.run_git`): its failures, a token refused over HTTP, and
revisions read in folders whose names have spaces, accents and line breaks."""

import subprocess
from http.server import BaseHTTPRequestHandler

import pytest

from cml.errors import GitError
from cml.git import git_text, resolve, run_git
from cml.workspace import Workspace
from tests.fakes.server import LoopbackServer


class Refusing(LoopbackServer):
    """Answers every request with ``status``, as a forge does for a token it refuses (401) or that may not
    do this (403, GitHub's answer to a push with a read-only token)."""

    def __init__(self, status: int):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.start_serving(Handler)


def make_repository(path):
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    return path


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_one_line_that_names_the_host_and_the_permission(tmp_path, status):
    secret = "ghp_SecretFromTheUrl0123456789"
    with Refusing(status) as server:
        host = server.url.removeprefix("http://")
        with pytest.raises(GitError) as caught:
            run_git(["ls-remote", f"http://x-access-token:{secret}@{host}/octo/models.git"], tmp_path,
                    env={"GIT_TERMINAL_PROMPT": "0"})
    message = str(caught.value)
    assert message == (f"git ls-remote failed: {host} refused the token for git over HTTPS (HTTP {status}); "
                       "use a token allowed to push to the repository (contents: write permission)")
    assert secret not in message and "terminal prompts" not in message


def test_failures_are_one_line_naming_the_subcommand_and_probes_return_none(tmp_path):
    repository = make_repository(tmp_path / "repo")
    with pytest.raises(GitError) as caught:
        run_git(["rev-parse", "--verify", "no-such-branch"], repository)
    assert str(caught.value) == "git rev-parse failed: Needed a single revision"
    assert run_git(["rev-parse", "--verify", "no-such-branch"], repository, probe=True) is None
    with pytest.raises(GitError) as caught:
        run_git(["cat-file", "-p", "x" * 100_000], repository)
    assert str(caught.value).startswith("git cat-file failed: Not a valid object name xxx") \
        and len(str(caught.value)) < 400
    outside = tmp_path / "plain folder"
    outside.mkdir()
    with pytest.raises(GitError) as caught:
        Workspace.find(str(outside))
    assert str(caught.value) == f"{outside} is not inside a git repository; run cml in your project's clone"


def test_without_git_on_path_the_error_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitError, match="^git is not installed or not on PATH; install git$"):
        run_git(["status"], tmp_path)
    assert git_text(["status"], tmp_path, probe=True) is None


@pytest.mark.parametrize("folder", ["my project é/репо", "trailing space /x", "line\nbreak"])
def test_revisions_are_read_in_folders_with_any_name(tmp_path, folder):
    repository = make_repository(tmp_path / folder)
    logs = repository / "logs dir"
    logs.mkdir()
    (logs / "loss é.tsv").write_text("step\tloss\n0\t1.0\n")
    (logs / "acc.tsv").write_text("step\tacc\n0\t0.5\n")
    subprocess.run(["git", "add", "."], cwd=repository, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "base"], cwd=repository, check=True)

    revision = resolve("HEAD", cwd=logs)
    assert revision.toplevel == str(repository)
    assert Workspace.find(str(logs)).root == str(repository)
    assert sorted(revision.list_files(".")) == ["./acc.tsv", "./loss é.tsv"]
    assert revision.read_files(["loss é.tsv", "missing.tsv"]) == {"loss é.tsv": b"step\tloss\n0\t1.0\n",
                                                                  "missing.tsv": None}


def test_names_that_would_confuse_the_batch_reader_are_refused_or_read_right(tmp_path):
    """A file name with a line break would split its ``cat-file --batch`` request and shift every answer after it;
    a name starting with two dots is inside the repository."""
    repository = make_repository(tmp_path / "repo")
    (repository / "..data.json").write_text("{}")
    (repository / "a").write_text("a")
    subprocess.run(["git", "add", "."], cwd=repository, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "base"], cwd=repository, check=True)
    revision = resolve("HEAD", cwd=repository)
    assert revision.read_files(["..data.json"]) == {"..data.json": b"{}"}
    with pytest.raises(GitError, match="a file name with a line break cannot be read from git"):
        revision.read_files([f"x\n{revision.sha}:a", "a"])
