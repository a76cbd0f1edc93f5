"""examples/cloud-gpu run end to end: the launch job's lines start a machine on moto's EC2 that comes online on
the fake forge, then the train job's lines report from "the runner" (this process)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.ecosystem.test_examples import EXAMPLES, ci_environ, ci_scripts
from tests.runner.conftest import live_instances

EXAMPLE = EXAMPLES / "cloud-gpu"


def run_lines(lines: list[str], cwd) -> None:
    for line in lines:
        result = subprocess.run(["bash", "-e", "-c", line], cwd=cwd, env=ci_environ({}), capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"


@pytest.fixture
def project(repo):
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True)
    repo.commit("example")
    return repo.path


def test_github_two_jobs(project, github_runners, cloud, fleet):
    launch, *train = ci_scripts(EXAMPLE, "github")

    run_lines([launch], project)
    (instance,) = live_instances(cloud)
    assert instance["InstanceType"] == "g4dn.xlarge"
    (runner,) = github_runners.runner_store.runners.values()
    assert runner["status"] == "online" and "cml-gpu" in runner["labels"] and runner["ephemeral"]

    run_lines(train, project)
    (comment,) = github_runners.comments_on(sha="f" * 40)
    assert "# Trained on a GPU runner" in comment["body"] and "| accuracy" in comment["body"]


def test_gitlab_two_jobs(project, gitlab_runners, cloud, fleet, monkeypatch):
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "3")
    launch, *train = ci_scripts(EXAMPLE, "gitlab")

    run_lines([launch], project)
    (runner,) = gitlab_runners.runner_store.runners.values()
    assert runner["status"] == "online" and runner["labels"] == ["cml-gpu"]
    assert live_instances(cloud)

    run_lines(train, project)
    (comment,) = gitlab_runners.store.on("pr", 3)
    assert "# Trained on a GPU runner" in comment["body"]
