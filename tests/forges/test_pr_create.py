"""``cml pr create`` with real git: a bare repository served by ``git http-backend`` on loopback behind
token authentication, and the stateful fake GitHub for the pull-request calls."""

import base64
import os
import subprocess
import sys

import pytest

from tests.fakes.ci_env import TOKEN
from tests.fakes.git_http import GitHttpServer


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.rstrip()


def make_clone(tmp_path, bare):
    """A bare repository at ``bare`` with one commit on main, and a working clone of it (no remote yet)."""
    bare.mkdir(parents=True)
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "train.py").write_text("print('train')\n")
    (work / "metrics.json").write_text('{"accuracy": 0.8}\n')
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    return work


@pytest.fixture
def clone(actions, github, tmp_path):
    """A CI clone of octo/models whose origin is served over HTTP and needs the Actions token."""
    root = tmp_path / "server"
    bare = root / "octo" / "models.git"
    work = make_clone(tmp_path, bare)
    server = GitHttpServer(str(root), "x-access-token", TOKEN).__enter__()
    git("remote", "add", "origin", f"{server.url}/octo/models.git", cwd=work)
    os.chdir(work)
    yield work, bare, server
    server.__exit__()


def run_pr(*args, cwd, extra_env=None):
    env = {**os.environ, **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "cml", "pr", "create", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_commits_pushes_and_opens_a_pull_request_without_touching_the_checkout(clone, github):
    work, bare, server = clone
    head = git("rev-parse", "HEAD", cwd=work)
    (work / "model_card.md").write_text("# Model card\n")
    (work / "metrics.json").write_text('{"accuracy": 0.9}\n')
    result = run_pr("model_card.md", cwd=work)
    assert result.returncode == 0, result.stderr

    (pull,) = github.pull_store.pulls
    branch = f"main-cml-pr-{head[:8]}"
    assert result.stdout == f"https://github.test/octo/models/pull/{pull['number']}\n"
    assert (pull["source"], pull["target"], pull["title"]) == (branch, "main", f"CML PR for main {head[:8]}")
    assert git("log", "-1", "--format=%P|%an <%ae>|%s", branch, cwd=bare) == (
        f"{head}|cml[bot] <cml-bot@users.noreply.github.com>|CML PR for {head[:8]} [skip ci]")
    assert git("show", f"{branch}:model_card.md", cwd=bare) == "# Model card"
    assert git("show", f"{branch}:metrics.json", cwd=bare) == '{"accuracy": 0.8}'  # not asked for
    # The user's branch, index and files are as they were.
    assert git("rev-parse", "HEAD", cwd=work) == head and git("branch", "--show-current", cwd=work) == "main"
    assert git("status", "--porcelain", cwd=work).splitlines() == [" M metrics.json", "?? model_card.md"]
    # The token went only into the Authorization header of the git requests.
    assert TOKEN not in (work / ".git" / "config").read_text()
    assert git("remote", "get-url", "origin", cwd=work) == f"{server.url}/octo/models.git"
    assert TOKEN not in result.stdout + result.stderr
    assert all(TOKEN not in path for _, path, _ in server.requests)
    assert any(method == "POST" and path.endswith("git-receive-pack") for method, path, _ in server.requests)


def test_running_it_again_finds_the_same_branch_and_pull_request(clone, github):
    work, bare, _ = clone
    (work / "model_card.md").write_text("# Model card\n")
    first = run_pr(cwd=work)
    second = run_pr(cwd=work)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert len(github.pull_store.pulls) == 1
    assert "already exists" in second.stderr
    assert len(git("for-each-ref", "refs/heads/", cwd=bare).splitlines()) == 2  # main and one PR branch


def test_nothing_to_commit_opens_nothing(clone, github):
    work, bare, _ = clone
    result = run_pr("*.csv", cwd=work)
    assert result.returncode == 0
    assert result.stdout == "" and "nothing to commit" in result.stderr
    assert github.pull_store.pulls == [] and len(git("for-each-ref", "refs/heads/", cwd=bare).splitlines()) == 1


def test_a_branch_with_other_content_is_never_overwritten(clone, github):
    work, bare, _ = clone
    head = git("rev-parse", "HEAD", cwd=work)
    (work / "model_card.md").write_text("someone else's card\n")
    git("add", "model_card.md", cwd=work)
    git("commit", "-q", "-m", "theirs", cwd=work)
    git("push", "-q", str(bare), f"HEAD:refs/heads/main-cml-pr-{head[:8]}", cwd=work)
    theirs = git("rev-parse", "HEAD", cwd=work)
    git("reset", "-q", "--hard", head, cwd=work)

    (work / "model_card.md").write_text("# Our card\n")
    refused = run_pr("model_card.md", cwd=work)
    assert refused.returncode == 1
    assert "already exists on origin with other changes" in refused.stderr and "--force-new" in refused.stderr
    assert git("rev-parse", f"main-cml-pr-{head[:8]}", cwd=bare) == theirs

    forced = run_pr("model_card.md", "--force-new", cwd=work)
    assert forced.returncode == 0, forced.stderr
    assert github.pull_store.pulls[0]["source"] == f"main-cml-pr-{head[:8]}-2"
    assert git("rev-parse", f"main-cml-pr-{head[:8]}", cwd=bare) == theirs


def test_a_refused_pull_request_takes_its_new_branch_with_it(clone, github):
    work, bare, _ = clone
    github.pull_store.refuse_targets.add("main")
    (work / "model_card.md").write_text("# Model card\n")
    result = run_pr(cwd=work)
    assert result.returncode == 1 and "base is protected" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert git("for-each-ref", "--format=%(refname)", "refs/heads/", cwd=bare) == "refs/heads/main"


def test_squash_turns_on_auto_merge_or_merges_when_github_refuses(clone, github):
    work, _, _ = clone
    (work / "a.txt").write_text("a\n")
    assert run_pr("a.txt", "--squash", "--md", cwd=work).stdout.startswith("[CML's Pull Request](https://github.test/")
    assert github.pull_store.pulls[0]["auto_merge"] == "SQUASH"

    github.pull_store.auto_merge_allowed = False
    (work / "b.txt").write_text("b\n")
    result = run_pr("b.txt", "--rebase", "--branch", "results", "--message", "Add b", cwd=work)
    assert result.returncode == 0, result.stderr
    assert github.pull_store.pulls[1]["merged_with"] == "rebase"
    assert "merged" in result.stderr


def test_bad_situations_are_one_line_errors(clone, github, tmp_path):
    work, _, _ = clone
    (work / "a.txt").write_text("a\n")
    git("checkout", "-q", "--detach", cwd=work)
    detached = run_pr(cwd=work)
    assert detached.returncode == 1 and "--target-branch" in detached.stderr
    no_remote = run_pr("--remote", "upstream", "--target-branch", "main", cwd=work)
    assert no_remote.returncode == 1 and "no remote named 'upstream'" in no_remote.stderr
    missing_target = run_pr("--target-branch", "release", cwd=work)
    assert missing_target.returncode == 1 and "branch 'release' does not exist on origin" in missing_target.stderr
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    not_repo = run_pr(cwd=outside)
    assert not_repo.returncode == 1 and "is not inside a git repository" in not_repo.stderr
    both = run_pr("--merge", "--squash", "--target-branch", "main", cwd=work)
    assert both.returncode == 1 and "choose one of --merge, --rebase and --squash" in both.stderr
    assert github.pull_store.pulls == []


def test_gitlab_merge_request_over_http_with_the_project_token(serve, tmp_path):
    from tests.fakes.ci_env import gitlab_env
    from tests.fakes.forges import FakeGitLab

    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "project_42_bot")
    api = serve(fake)
    root = tmp_path / "server"
    work = make_clone(tmp_path, root / "ml" / "models.git")
    git("checkout", "-q", "--detach", cwd=work)  # GitLab CI checks out a detached HEAD
    with GitHttpServer(str(root), "oauth2", "glpat-secret-token") as server:
        git("remote", "add", "origin", f"{server.url}/ml/models.git", cwd=work)
        (work / "model.json").write_text("{}\n")
        env = gitlab_env(api, CI_COMMIT_BRANCH="main", CI_SERVER_URL="https://gitlab.test")
        first = run_pr("--squash", "--md", cwd=work, extra_env=env)
        second = run_pr("--squash", "--md", cwd=work, extra_env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout == "[CML's Merge Request](https://gitlab.test/ml/models/-/merge_requests/11)\n\n"
    (merge_request,) = fake.pull_store.pulls
    assert merge_request["auto_merge"] == "squash" and merge_request["target"] == "main"
    assert "glpat-secret-token" not in first.stdout + first.stderr + (work / ".git" / "config").read_text()


@pytest.mark.parametrize("forge", ["bitbucket", "gitea"])
def test_bitbucket_and_gitea_pull_requests_once(forge, serve, tmp_path):
    from tests.fakes.ci_env import bitbucket_env, gitea_env
    from tests.fakes.forges import FakeBitbucket, FakeGitea

    fake = FakeBitbucket() if forge == "bitbucket" else FakeGitea()
    token = "bb-access-token" if forge == "bitbucket" else "gitea-token-123"
    fake.add_token(token, "bot")
    api = serve(fake)
    env = bitbucket_env(api, token, BITBUCKET_BRANCH="main") if forge == "bitbucket" else gitea_env(api, tmp_path, GITHUB_REF_NAME="main")
    bare = tmp_path / "remote.git"
    work = make_clone(tmp_path, bare)
    git("remote", "add", "origin", str(bare), cwd=work)
    (work / "model.json").write_text("{}\n")
    first = run_pr("--merge", cwd=work, extra_env=env)
    second = run_pr("--merge", cwd=work, extra_env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.startswith(f"https://{forge}.test/")
    (pull,) = fake.pull_store.pulls
    if forge == "bitbucket":
        assert pull["merged_with"] == "merge_commit" and "merged" in first.stderr
    else:
        assert pull["auto_merge"] == "merge"


def test_a_rejected_push_is_one_line_and_leaves_nothing_behind(clone, github):
    work, bare, _ = clone
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'pushes are frozen by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    (work / "model_card.md").write_text("# Model card\n")
    result = run_pr(cwd=work)
    assert result.returncode == 1
    assert result.stderr.startswith("cml: error: git push failed") and len(result.stderr.strip().splitlines()) == 1
    assert TOKEN not in result.stderr
    assert git("for-each-ref", "--format=%(refname)", "refs/heads/", cwd=bare) == "refs/heads/main"
    assert github.pull_store.pulls == []


def test_the_token_is_never_on_a_git_command_line(clone, github, tmp_path):
    """Every git process cml starts is logged by a wrapper: the token must not be in any argv (``ps`` shows
    argv to every user), only in the environment of the processes that talk to the server."""
    import shutil

    work, _, _ = clone
    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    log = tmp_path / "git-argv.log"
    (wrapper / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec {shutil.which("git")} "$@"\n')
    (wrapper / "git").chmod(0o755)
    (work / "model_card.md").write_text("# Model card\n")
    result = run_pr(cwd=work, extra_env={"PATH": f"{wrapper}{os.pathsep}{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    argv = log.read_text()
    assert "push" in argv and "ls-remote" in argv
    assert TOKEN not in argv and "x-access-token" not in argv
    assert base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode() not in argv


def test_iterative_cmls_older_form_without_create_still_works(clone, github):
    work, bare, _ = clone
    (work / "model_card.md").write_text("# Model card\n")
    result = subprocess.run([sys.executable, "-m", "cml", "pr", "model_card.md"], cwd=work, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (pull,) = github.pull_store.pulls
    assert git("show", f"{pull['source']}:model_card.md", cwd=bare) == "# Model card"


def test_a_changed_tracked_file_is_committed_with_its_whole_name(clone, github):
    """``git status --porcelain`` starts a modified file's line with a space that must not be lost."""
    work, bare, _ = clone
    (work / "metrics.json").write_text('{"accuracy": 0.95}\n')
    result = run_pr("metrics.json", cwd=work)
    assert result.returncode == 0, result.stderr
    (pull,) = github.pull_store.pulls
    assert git("show", f"{pull['source']}:metrics.json", cwd=bare) == '{"accuracy": 0.95}'


def test_a_token_the_git_server_refuses_is_named_as_such(actions, github, tmp_path):
    """The forge's git endpoint answers 401 to the job's token (revoked, or not allowed on this repository)."""
    root = tmp_path / "server"
    work = make_clone(tmp_path, root / "octo" / "models.git")
    with GitHttpServer(str(root), "x-access-token", "ghs_AnotherTokenTheServerWants0") as server:
        git("remote", "add", "origin", f"{server.url}/octo/models.git", cwd=work)
        (work / "model_card.md").write_text("# Model card\n")
        result = run_pr("model_card.md", cwd=work)
    assert result.returncode == 1
    assert result.stderr == (f"cml: error: git ls-remote failed: {server.url.removeprefix('http://')} refused the "
                             "token for git over HTTPS (HTTP 401); use a token allowed to push to the repository "
                             "(contents: write permission)\n")
    assert TOKEN not in result.stderr + result.stdout
    assert github.pull_store.pulls == [] and git("for-each-ref", "refs/heads/", cwd=root / "octo" / "models.git") \
        .count("\n") == 0
