"""A cloud (moto's EC2 behind a recording proxy), machines that boot, and forges that store runners."""

from __future__ import annotations

import boto3
import pytest
import requests

from tests.fakes.ci_env import PAT, gitlab_env
from tests.fakes.ec2 import Ec2Proxy, MachineFleet
from tests.fakes.forges import FakeGitLab
from tests.fakes.server import FakeForgeServer

REGION = "us-west-1"
GITLAB_TOKEN = "glpat-secret-token"


@pytest.fixture
def cloud(moto_endpoint, aws, monkeypatch, tmp_path_factory):
    """EC2 in moto (emptied first), reached through :class:`Ec2Proxy` as ``AWS_ENDPOINT_URL``."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    # No region from the environment or a profile: cml runner's own default (us-west) applies.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path_factory.getbasetemp() / "no-aws-config"))
    with Ec2Proxy(moto_endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        proxy.clients = {region: boto3.client("ec2", region_name=region, endpoint_url=moto_endpoint,
                                              aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
                                              aws_secret_access_key=aws["AWS_SECRET_ACCESS_KEY"])
                         for region in (REGION, "us-east-1")}
        proxy.ec2 = proxy.clients[REGION]
        yield proxy


def live_instances(cloud) -> list[dict]:
    """Instances tagged cml:runner that still cost money, in every region the tests use, straight from moto."""
    found = []
    for client in cloud.clients.values():
        reservations = client.describe_instances(Filters=[
            {"Name": "tag-key", "Values": ["cml:runner"]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])["Reservations"]
        found += [i for r in reservations for i in r["Instances"]]
    return found


@pytest.fixture
def github_runners(github, monkeypatch, tmp_path):
    """A GitHub Actions job whose REPO_TOKEN is an admin personal access token."""
    github.add_token(PAT, "alice")
    monkeypatch.chdir(tmp_path)
    env = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": github.base_url,
           "GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": github.repository,
           "GITHUB_SHA": "f" * 40, "GITHUB_RUN_ID": "555", "GITHUB_OUTPUT": str(tmp_path / "output"),
           "REPO_TOKEN": PAT, "CML_HTTP_BACKOFF": "0.01"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return github


@pytest.fixture
def gitlab_runners(monkeypatch, tmp_path):
    fake = FakeGitLab()
    fake.add_token(GITLAB_TOKEN, "ml-bot")
    with FakeForgeServer(fake) as server:
        fake.base_url = server.url
        fake.server = server
        monkeypatch.chdir(tmp_path)
        for name, value in gitlab_env(server, CI_SERVER_URL=server.url).items():
            monkeypatch.setenv(name, value)
        yield fake


@pytest.fixture
def fleet(cloud, request):
    """Machines that boot and bring their runner online; set ``fleet.behaviour`` to change that."""
    forges = {}
    for name, fixture in (("github", "github_runners"), ("gitlab", "gitlab_runners")):
        if fixture in request.fixturenames:
            forges[name] = request.getfixturevalue(fixture)
    with MachineFleet(list(cloud.clients.values()), forges) as machines:
        yield machines
