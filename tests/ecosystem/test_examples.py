"""The examples' CI files, run: their ``run:``/``script:`` lines (all but the install lines) execute with bash
in a real clone, with the CI's variables pointing at the stateful fake forges, and the comment that arrives
is checked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import git
from tests.fakes.ci_env import PAT, bitbucket_env, gitea_env, gitlab_env

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"
INSTALL = re.compile(r"^\s*(pip|python -m pip|apt-get|apt) ")


def steps_of_workflow(path: Path) -> list[str]:
    jobs = yaml.safe_load(path.read_text())["jobs"]
    return [step["run"] for job in jobs.values() for step in job.get("steps", [])
            if "run" in step and step.get("name") != "Install"]


def ci_scripts(example: Path, forge: str) -> list[str]:
    """The shell the CI would run for ``forge``, install lines left out (the tests run the checkout's cml)."""
    if forge == "github":
        scripts = [s for path in sorted((example / ".github" / "workflows").glob("*.yml")) for s in steps_of_workflow(path)]
    elif forge == "gitea":
        scripts = [s for path in sorted((example / ".gitea" / "workflows").glob("*.yml")) for s in steps_of_workflow(path)]
    elif forge == "gitlab":
        document = yaml.safe_load((example / ".gitlab-ci.yml").read_text())
        scripts = [line for name, job in document.items() if isinstance(job, dict) and "script" in job
                   for line in job["script"]]
    else:
        document = yaml.safe_load((example / "bitbucket-pipelines.yml").read_text())
        steps = [item["step"] for items in document["pipelines"]["pull-requests"].values() for item in items]
        scripts = [line for step in steps for line in step["script"]]
    return [script for script in scripts if not INSTALL.match(script)]


@pytest.fixture
def clone(tmp_path):
    """A clone of a remote whose main branch holds the example trained with its committed params, checked out
    on a feature branch that changes them, as the CI's checkout of a pull request would be."""
    def make(example: Path, change: tuple[str, str]) -> Path:
        remote, work = tmp_path / "remote.git", tmp_path / "work"
        git("init", "-q", "--bare", "-b", "main", str(remote), cwd=tmp_path)
        git("clone", "-q", str(remote), str(work), cwd=tmp_path)
        shutil.copytree(example, work, dirs_exist_ok=True)
        subprocess.run([sys.executable, "train.py"], cwd=work, check=True, capture_output=True)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "baseline", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        git("checkout", "-q", "-b", "feature", cwd=work)
        params = work / "params.yaml"
        params.write_text(params.read_text().replace(*change))
        git("commit", "-q", "-am", "try a new model", cwd=work)
        return work

    return make


def run_ci(work: Path, scripts: list[str], env: dict) -> None:
    environ = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for script in scripts:
        result = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=environ, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"


def assert_sklearn_report(body: str) -> None:
    assert "## Metrics" in body and "## Confusion matrix and ROC" in body
    assert re.search(r"\| accuracy .*✅ better", body), body
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
    assert len(images) == 2
    # published: absolute URLs, or GitLab's project-relative /uploads/ links
    assert all(url.startswith(("http", "/uploads/")) for url in images), images


SKLEARN = EXAMPLES / "sklearn-report"
SKLEARN_CHANGE = ("C: 0.01", "C: 1.0")


def test_sklearn_example_on_github(clone, github, tmp_path):
    work = clone(SKLEARN, SKLEARN_CHANGE)
    github.add_token(PAT, "github-actions[bot]")
    github.enable_git_data(str(tmp_path / "github-data.git"))
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "f" * 40}}}))
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": github.base_url,
           "GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": github.repository,
           "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "f" * 40,
           "GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature", "GITHUB_WORKSPACE": str(work),
           "GITHUB_RUN_ID": "1", "REPO_TOKEN": PAT, "CML_HTTP_BACKOFF": "0.01"}
    scripts = ci_scripts(SKLEARN, "github")

    run_ci(work, scripts, env)
    run_ci(work, scripts, env)

    (comment,) = github.comments_on(number=7)
    assert_sklearn_report(comment["body"])
    assert "https://github.test/octo/models/raw/cml-assets/" in comment["body"]


@pytest.mark.parametrize("forge", ["gitlab", "bitbucket", "gitea"])
def test_sklearn_example_on_other_forges(clone, serve, tmp_path, forge):
    from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab

    work = clone(SKLEARN, SKLEARN_CHANGE)
    if forge == "gitlab":
        fake = FakeGitLab()
        fake.add_token("glpat-secret-token", "ml-bot")
        env = gitlab_env(serve(fake), CI_MERGE_REQUEST_IID="3", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
                         CI_PROJECT_DIR=str(work))
        thread = ("pr", 3)
    elif forge == "bitbucket":
        fake = FakeBitbucket()
        fake.add_token("bb-token-123456", "ml-bot")
        env = bitbucket_env(serve(fake), "bb-token-123456", BITBUCKET_PR_ID="4",
                            BITBUCKET_PR_DESTINATION_BRANCH="main", BITBUCKET_CLONE_DIR=str(work))
        thread = ("pr", 4)
    else:
        fake = FakeGitea()
        fake.add_token("gitea-token-123", "gitea-actions")
        env = gitea_env(serve(fake), tmp_path, GITHUB_BASE_REF="main", GITHUB_WORKSPACE=str(work))
        thread = ("pr", 2)
    scripts = ci_scripts(SKLEARN, forge)

    run_ci(work, scripts, env)
    run_ci(work, scripts, env)

    (comment,) = fake.store.on(*thread)
    assert_sklearn_report(comment["body"])
