"""The run-lines of iterative/cml's documented example workflows work unchanged (cml.dev's usage page,
its older send-comment/publish form, and the GitLab example), against the fake forges."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fakes.ci_env import PAT, gitlab_env

TRAIN = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
open("metrics.txt", "w").write("Accuracy: 0.91\\n")
plt.imshow([[9, 1], [2, 8]])
plt.savefig("plot.png")
"""

DOCUMENTED = {
    # cml.dev/doc/usage (GitHub and GitLab tabs)
    "usage": """
        python train.py  # generate plot.png
        # Post CML report as a comment in GitHub
        cat metrics.txt >> report.md
        echo '![](./plot.png "Confusion Matrix")' >> report.md
        cml comment create report.md
    """,
    # the form of iterative/cml 0.x's README, still in many workflows
    "legacy": """
        python train.py
        cat metrics.txt >> report.md
        cml publish plot.png --md >> report.md
        cml send-comment report.md
    """,
}


def run(workdir: Path, script: str, env: dict) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", textwrap.dedent(script)], cwd=workdir, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(repo):
    repo.write("train.py", TRAIN)
    repo.commit("train")
    return repo.path


@pytest.mark.parametrize("example", list(DOCUMENTED))
def test_documented_github_lines_on_a_push(project, github, tmp_path, example):
    github.add_token(PAT, "alice")
    github.enable_git_data(str(tmp_path / "data.git"))
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"head_commit": {"id": sha}}))
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": github.base_url,
           "GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": github.repository,
           "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "push", "GITHUB_SHA": sha,
           "GITHUB_WORKSPACE": str(project), "REPO_TOKEN": PAT, "CML_HTTP_BACKOFF": "0.01"}

    result = run(project, DOCUMENTED[example], env)

    assert result.returncode == 0, result.stderr
    (comment,) = github.comments_on(sha=sha)
    assert "Accuracy: 0.91" in comment["body"]
    assert re.search(r"!\[[^\]]*\]\(https://github\.test/octo/models/raw/cml-assets/[0-9a-f]{64}\.png", comment["body"])
    if example == "legacy":
        assert "cml send-comment is deprecated; use cml comment create" in result.stderr


def test_documented_gitlab_lines_on_a_merge_request(project, serve):
    from tests.fakes.forges import FakeGitLab

    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "ml-bot")
    env = gitlab_env(serve(fake), CI_MERGE_REQUEST_IID="5", CI_PROJECT_DIR=str(project))

    result = run(project, DOCUMENTED["usage"], env)

    assert result.returncode == 0, result.stderr
    (comment,) = fake.store.on("pr", 5)
    assert "Accuracy: 0.91" in comment["body"] and "](/uploads/" in comment["body"]
