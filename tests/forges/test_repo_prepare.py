"""``cml repo prepare`` / ``cml ci`` on real clones: identity, base-branch fetch, unshallow, safe directory."""

import subprocess

import pytest


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.rstrip()


@pytest.fixture
def shallow(tmp_path, monkeypatch):
    """A shallow single-branch clone of a repository with main (3 commits) and a feature branch."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git("init", "-q", "-b", "main", cwd=origin)
    for index in range(3):
        (origin / "metrics.json").write_text(f'{{"accuracy": 0.{index}}}')
        git("add", ".", cwd=origin)
        git("commit", "-q", "-m", f"main {index}", cwd=origin)
    git("checkout", "-q", "-b", "feature", cwd=origin)
    (origin / "metrics.json").write_text('{"accuracy": 0.9}')
    git("commit", "-q", "-am", "feature", cwd=origin)
    clone = tmp_path / "clone"
    git("clone", "-q", "--depth=1", "--single-branch", "--branch", "feature", f"file://{origin}", str(clone),
        cwd=tmp_path)
    monkeypatch.chdir(clone)
    return clone


def test_in_a_pull_request_job_it_fetches_the_base_branch_for_metrics_diff(shallow, run_cli, monkeypatch):
    for name, value in {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main",
                        "GITHUB_WORKSPACE": str(shallow)}.items():
        monkeypatch.setenv(name, value)
    before = run_cli("metrics", "diff", "--md")
    assert before.exit_code == 1 and "git fetch" in before.stderr
    result = run_cli("repo", "prepare")
    assert result.exit_code == 0, result.stderr
    assert "fetched the base branch origin/main" in result.stderr
    assert git("config", "--local", "user.name", cwd=shallow) == "cml[bot]"
    assert str(shallow) in git("config", "--global", "--get-all", "safe.directory", cwd=shallow).splitlines()
    after = run_cli("metrics", "diff", "--md")
    assert after.exit_code == 0, after.stderr
    assert "0.2" in after.stdout and "0.9" in after.stdout
    again = run_cli("ci")
    assert again.exit_code == 0 and "fetched" not in again.stderr  # nothing left to do
    assert git("config", "--global", "--get-all", "safe.directory", cwd=shallow).splitlines().count(str(shallow)) == 1


def test_fetch_depth_zero_unshallows_and_identity_is_configurable(shallow, run_cli):
    result = run_cli("ci", "--fetch-depth", "0", "--user-name", "Model Bot", "--user-email", "bot@example.test")
    assert result.exit_code == 0, result.stderr
    assert git("rev-parse", "--is-shallow-repository", cwd=shallow) == "false"
    assert len(git("rev-list", "origin/main", cwd=shallow).splitlines()) == 3
    assert git("config", "--local", "user.email", cwd=shallow) == "bot@example.test"
    unshallow = run_cli("repo", "prepare", "--unshallow")
    assert unshallow.exit_code == 0 and "--unshallow is deprecated" in unshallow.stderr


def test_outside_ci_the_global_git_config_is_left_alone(shallow, run_cli):
    assert run_cli("repo", "prepare").exit_code == 0
    listed = subprocess.run(["git", "config", "--global", "--get-all", "safe.directory"], capture_output=True, text=True)
    assert listed.stdout == ""


def test_not_a_repository_is_a_clear_error(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("repo", "prepare")
    assert result.exit_code == 1 and result.stderr.startswith("cml: error: ") and "is not inside a git repository" in result.stderr
