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
from dataclasses import dataclass
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
        groups = [group for groups in document["pipelines"].values()
                  for group in (groups.values() if isinstance(groups, dict) else [groups])]
        scripts = [line for items in groups for item in items for line in item["step"]["script"]]
    return [script for script in scripts if not INSTALL.match(script)]


@pytest.fixture
def clone(tmp_path):
    """A clone of a remote whose main branch holds the example built once (``build``), checked out on a feature
    branch that changes its params, as the CI's checkout of a pull request would be."""
    def make(example: Path, change: tuple[str, str], build: list[str]) -> Path:
        remote, work = tmp_path / "remote.git", tmp_path / "work"
        git("init", "-q", "--bare", "-b", "main", str(remote), cwd=tmp_path)
        git("clone", "-q", str(remote), str(work), cwd=tmp_path)
        shutil.copytree(example, work, dirs_exist_ok=True)
        subprocess.run(build, cwd=work, check=True, capture_output=True, env=ci_environ({}))
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "baseline", cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        git("checkout", "-q", "-b", "feature", cwd=work)
        params = work / "params.yaml"
        params.write_text(params.read_text().replace(*change))
        git("commit", "-q", "-am", "try a new model", cwd=work)
        return work

    return make


def ci_environ(env: dict) -> dict:
    return {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def run_ci(work: Path, scripts: list[str], env: dict) -> None:
    for script in scripts:
        result = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=ci_environ(env), capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"


@dataclass
class CiForge:
    name: str
    env: dict
    fake: object

    def comments(self) -> list[str]:
        if self.name == "github":
            return [c["body"] for c in self.fake.comments_on(number=7)]
        return [c["body"] for c in self.fake.store.on("pr", {"gitlab": 3, "bitbucket": 4, "gitea": 2}[self.name])]

    def on_a_branch(self, branch: str = "main") -> dict:
        """The environment of a job on ``branch`` (a push or a schedule), not of a pull request."""
        pull_request = ("GITHUB_BASE_REF", "GITHUB_HEAD_REF", "CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                        "BITBUCKET_PR_ID", "BITBUCKET_PR_DESTINATION_BRANCH")
        env = {key: value for key, value in self.env.items() if key not in pull_request}
        branch_variable = {"gitlab": "CI_COMMIT_BRANCH", "bitbucket": "BITBUCKET_BRANCH"}.get(self.name, "GITHUB_REF_NAME")
        return {**env, branch_variable: branch, "GITHUB_EVENT_NAME": "schedule"} if self.name in ("github", "gitea") \
            else {**env, branch_variable: branch}


@pytest.fixture
def forge(request, serve, tmp_path):
    """The CI environment of a pull request on the parametrized forge, and its fake."""
    from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab

    name = request.param
    workspace = str(tmp_path / "work")
    if name == "github":
        github = request.getfixturevalue("github")
        github.add_token(PAT, "github-actions[bot]")
        github.enable_git_data(str(tmp_path / "github-data.git"))
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "f" * 40}}}))
        env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": github.base_url,
               "GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": github.repository,
               "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "f" * 40,
               "GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature", "GITHUB_WORKSPACE": workspace,
               "GITHUB_RUN_ID": "1", "REPO_TOKEN": PAT, "CML_HTTP_BACKOFF": "0.01"}
        return CiForge(name, env, github)
    if name == "gitlab":
        fake = FakeGitLab()
        fake.add_token("glpat-secret-token", "ml-bot")
        env = gitlab_env(serve(fake), CI_MERGE_REQUEST_IID="3", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
                         CI_PROJECT_DIR=workspace)
        return CiForge(name, env, fake)
    if name == "bitbucket":
        fake = FakeBitbucket()
        fake.add_token("bb-token-123456", "ml-bot")
        env = bitbucket_env(serve(fake), "bb-token-123456", BITBUCKET_PR_ID="4",
                            BITBUCKET_PR_DESTINATION_BRANCH="main", BITBUCKET_CLONE_DIR=workspace)
        return CiForge(name, env, fake)
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "gitea-actions")
    env = gitea_env(serve(fake), tmp_path, GITHUB_BASE_REF="main", GITHUB_WORKSPACE=workspace)
    return CiForge(name, env, fake)


def published_images(body: str) -> list[str]:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
    # published: absolute URLs, or GitLab's project-relative /uploads/ links
    assert all(url.startswith(("http", "/uploads/")) for url in images), images
    return images


FORGES = ["github", "gitlab", "bitbucket", "gitea"]


@pytest.mark.parametrize("forge", FORGES, indirect=True)
def test_sklearn_example(clone, forge):
    example = EXAMPLES / "sklearn-report"
    work = clone(example, ("C: 0.01", "C: 1.0"), [sys.executable, "train.py"])

    run_ci(work, ci_scripts(example, forge.name), forge.env)
    run_ci(work, ci_scripts(example, forge.name), forge.env)

    (body,) = forge.comments()  # the second run updated the first comment
    assert "## Metrics" in body and "## Confusion matrix" in body and "## ROC curve" in body
    assert re.search(r"\| accuracy .*✅ better", body), body
    assert len(published_images(body)) == 3  # the confusion matrix, ROC and precision-recall curves
    if forge.name == "github":
        assert "https://github.test/octo/models/raw/cml-assets/" in body


@pytest.mark.parametrize("forge", FORGES, indirect=True)
def test_dvc_pipeline_example(clone, forge):
    example = EXAMPLES / "dvc-pipeline"
    work = clone(example, ("alpha: 0.1", "alpha: 0.0001"), [str(Path(sys.executable).parent / "dvc"), "repro"])

    run_ci(work, ci_scripts(example, forge.name), forge.env)

    (body,) = forge.comments()
    assert "## Metrics" in body and "## Params" in body and "## Training" in body
    assert re.search(r"\| train\.alpha .*0\.1 .*0\.0001", body), body
    assert re.search(r"\| accuracy ", body)
    assert len(published_images(body)) == 1


@pytest.mark.parametrize("forge", FORGES, indirect=True)
def test_model_card_example(clone, forge, tmp_path):
    example = EXAMPLES / "model-card"
    work = clone(example, ("trees: 20", "trees: 60"), [sys.executable, "train.py"])
    git("checkout", "-q", "main", cwd=work)
    git("merge", "-q", "--ff-only", "feature", cwd=work)  # the retraining runs on main with the new params
    git("push", "-q", "origin", "main", cwd=work)
    env = forge.on_a_branch("main")

    run_ci(work, ci_scripts(example, forge.name), env)
    run_ci(work, ci_scripts(example, forge.name), env)  # nothing new: the same branch and pull request

    (pull,) = forge.fake.pull_store.pulls
    head = git("rev-parse", "--short=8", "HEAD", cwd=work).strip()
    assert (pull["source"], pull["target"], pull["title"]) == (f"main-cml-pr-{head}", "main", "Retrained model card")
    card = git("show", f"{pull['source']}:MODEL_CARD.md", cwd=tmp_path / "remote.git")
    assert card.startswith("# Model card\nRetrained from ") and "| accuracy |" in card and "| trees " in card
    assert git("status", "--porcelain", cwd=work).split() == ["M", "MODEL_CARD.md", "M", "metrics.json"]
