"""Fixtures for forge tests: fake servers on loopback and a GitHub Actions job environment."""

import json

import pytest

from tests.fakes.server import FakeForgeServer
from tests.forges.ci_env import HEAD_SHA, PAT, REPORT, TOKEN


@pytest.fixture
def actions(github, tmp_path, monkeypatch):
    """Environment of a GitHub Actions job on a pull_request event for PR #7."""
    github.add_token(TOKEN, "github-actions[bot]")
    github.add_token(PAT, "alice")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": HEAD_SHA}}}))
    summary = tmp_path / "summary.md"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.md").write_text("# Report\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    env = {
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": github.base_url,
        "GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": github.repository,
        "GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request", "GITHUB_SHA": "f" * 40,
        "GITHUB_RUN_ID": "555", "GITHUB_WORKFLOW": "train", "GITHUB_STEP_SUMMARY": str(summary),
        "REPO_TOKEN": TOKEN, "CML_HTTP_BACKOFF": "0.01",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def serve():
    servers = []

    def start(fake):
        server = FakeForgeServer(fake).__enter__()
        fake.base_url = server.url
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.md").write_text(REPORT)
    return tmp_path / "report.md"


