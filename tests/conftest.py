"""Shared fixtures: a clean CI-free environment, real git repositories and CLI runners."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cml.cli.main import cli
from tests.fakes.server import FakeForgeServer
from tests.fakes.ci_env import HEAD_SHA, PAT, TOKEN

# A shell starts background jobs with SIGINT and SIGQUIT ignored, and every process the tests start would inherit
# that: the tests of Ctrl-C and of the runner's signal handling need the dispositions a CI job and a machine have.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGQUIT) == signal.SIG_IGN:
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)

CI_VARIABLE_PREFIXES = ("GITHUB_", "GITLAB_", "CI_", "BITBUCKET_", "GITEA_", "FORGEJO_", "CML_", "AWS_")
TOKEN_VARIABLES = ("REPO_TOKEN", "repo_token")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path_factory):
    """Tests start outside any CI and with a private git config, whatever runs them."""
    for name in list(os.environ):
        if name == "CI" or name in TOKEN_VARIABLES or name.startswith(CI_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MPLCONFIGDIR", str(home / "mpl"))
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@dataclass
class GitRepo:
    """A real repository in a temporary folder, with helpers to write files and commit."""

    path: Path

    def write(self, name: str, content: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(content).lstrip("\n") if "\n" in content else content)
        return target

    def commit(self, message: str = "change") -> str:
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.path)
        return git("rev-parse", "HEAD", cwd=self.path).strip()

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.path)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> GitRepo:
    """An empty git repository on branch ``main``; the test runs inside it."""
    path = tmp_path / "repo"
    path.mkdir()
    git("init", "-q", "-b", "main", cwd=path)
    monkeypatch.chdir(path)
    return GitRepo(path)


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli():
    """Run ``cml`` in-process through click's runner; stdout and stderr are kept apart."""

    def run(*args: str, env: dict | None = None) -> Run:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def run_process():
    """Run ``cml`` as a real subprocess (``python -m cml``) in the current folder."""

    def run(*args: str, env: dict | None = None, timeout: float = 120) -> Run:
        environ = dict(os.environ)
        environ.update(env or {})
        completed = subprocess.run(
            [sys.executable, "-m", "cml", *args], capture_output=True, text=True, env=environ, timeout=timeout
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    return run


def assert_image(path, min_width: int = 200, min_height: int = 200):
    """The file is a real image of a reasonable size that is not blank."""
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(str(path))
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (width, height)
    assert float(np.std(pixels[..., :3])) > 0.02, "image is blank"
    return pixels


RUNNING_IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by chromedriver (Selenium).

    Skipped on a developer machine without Chromium; in CI (``CI`` set) a missing
    browser is a failure, so the check cannot silently vanish.
    """
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        if RUNNING_IN_CI:
            pytest.fail("Chromium and chromedriver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("Chromium/chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1100,1400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


OCTOKIT_OPENAPI = "@octokit/openapi@23.0.2"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def github_description():
    """GitHub's OpenAPI description from npm (pinned), installed once into .cache/."""
    from tests.fakes.openapi import OpenAPIDescription

    spec = npm_install(OCTOKIT_OPENAPI, Path("@octokit/openapi/generated/api.github.com.json"))
    return OpenAPIDescription(str(spec))


NPM_PREFIX = PROJECT_ROOT / ".cache" / "npm"


def npm_install(package: str, installed_file: Path) -> Path:
    """Install the npm ``package`` into .cache/npm unless ``installed_file`` (relative to node_modules) is
    there; returns that file. A lock keeps parallel test workers from installing into the prefix at once."""
    import fcntl

    target = NPM_PREFIX / "node_modules" / installed_file
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    with open(NPM_PREFIX / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(NPM_PREFIX), package],
                           check=True, capture_output=True, timeout=600)
    return target


@pytest.fixture
def github(github_description):
    """A stateful fake GitHub API on loopback; the test fails if any request broke the OpenAPI description."""
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    fake = FakeGitHub(github_description)
    with FakeForgeServer(fake) as server:
        fake.base_url = server.url
        fake.server = server
        yield fake
    assert fake.violations == [], "requests not allowed by GitHub's OpenAPI description"


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


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """S3 and EC2 served by moto's server (a separate process) on loopback for the whole session, with
    instance-type, AMI and key-pair validation on and the published images of :mod:`tests.fakes.ec2`."""
    from tests.fakes.ec2 import MotoServer

    with MotoServer(tmp_path_factory.mktemp("moto")) as server:
        yield server.url


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """AWS variables pointing boto3 at the moto server, as a CI job's would point at AWS."""
    env = {"AWS_ACCESS_KEY_ID": "AKIAMOTOTESTKEY00001", "AWS_SECRET_ACCESS_KEY": "moto-secret-key-for-tests",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
