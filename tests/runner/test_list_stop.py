"""``cml runner list`` and ``cml runner stop``: every machine cml launched, found by its tags, and cleaned up."""

from __future__ import annotations

import json

from tests.fakes.ci_env import PAT
from tests.runner.conftest import live_instances


def start(run_cli, name, *args):
    result = run_cli("runner", "launch", "--cloud", "aws", "--name", name, *args)
    assert result.exit_code == 0, result.stderr
    return live_instances_named(result.stdout)


def live_instances_named(stdout: str) -> str:
    return stdout.split(" on ")[1].split()[0]


def test_list_shows_every_machine_cml_started_and_nothing_else(github_runners, cloud, fleet, run_cli):
    first = start(run_cli, "gpu-a", "--cloud-type", "g4dn.xlarge")
    second = start(run_cli, "gpu-b", "--cloud-spot", "--max-runtime", "never")
    image = "ami-0c0a0000000000001"
    cloud.ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1)  # not ours

    listed = run_cli("runner", "list", "--json")

    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["instance"], r["type"], r["market"]) for r in rows] == [
        ("gpu-a", first, "g4dn.xlarge", "on-demand"), ("gpu-b", second, "m5.2xlarge", "spot")]
    assert rows[0]["repository"] == "github:octo/models" and rows[0]["max runtime ends"].endswith("Z")
    assert rows[1]["max runtime ends"] == "never"
    table = run_cli("runner", "list", "--format", "table")
    assert "gpu-a" in table.stdout and first in table.stdout


def test_stop_by_name_terminates_the_machine_and_removes_the_registration(github_runners, cloud, fleet, run_cli):
    first = start(run_cli, "gpu-a")
    second = start(run_cli, "gpu-b")

    stopped = run_cli("runner", "stop", "gpu-a")

    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"terminated {first} (gpu-a)", "removed runner registration gpu-a"]
    assert [i["InstanceId"] for i in live_instances(cloud)] == [second]
    assert [r["name"] for r in github_runners.runner_store.runners.values()] == ["gpu-b"]

    everything = run_cli("runner", "stop", "--all")
    assert everything.exit_code == 0
    assert live_instances(cloud) == [] and github_runners.runner_store.runners == {}
    assert run_cli("runner", "list").stdout.strip() == "no runner machines in us-west-1"


def test_stop_without_a_forge_token_still_terminates(github_runners, cloud, fleet, run_cli, monkeypatch):
    start(run_cli, "gpu-a")
    monkeypatch.delenv("REPO_TOKEN")

    stopped = run_cli("runner", "stop", "gpu-a")

    assert stopped.exit_code == 0
    assert "only terminating machines, not removing runner registrations" in stopped.stderr
    assert live_instances(cloud) == []


def test_stop_errors(github_runners, cloud, run_cli):
    unknown = run_cli("runner", "stop", "nobody")
    assert unknown.exit_code == 1
    assert "no runner machine named nobody in us-west-1 (from default us-west)" in unknown.stderr
    both = run_cli("runner", "stop", "x", "--all")
    assert both.exit_code == 1 and "--all: name the runners to stop, or pass --all" in both.stderr


def test_no_token_or_secret_in_anything_a_launch_printed_or_sent(github_runners, cloud, fleet, run_cli, aws):
    """The user's token and AWS secret never reach output, the machine (user data, tags) or EC2 at all."""
    from tests.runner.test_launch import user_data

    result = run_cli("runner", "launch", "--cloud", "aws", "--name", "gpu-a", "-v")
    listed = run_cli("runner", "list", "--json")
    stopped = run_cli("runner", "stop", "gpu-a", "-v")

    printed = result.stdout + result.stderr + listed.stdout + listed.stderr + stopped.stdout + stopped.stderr
    sent_to_aws = json.dumps(cloud.requests) + user_data(cloud.last("RunInstances")).decode()
    for secret in (PAT, aws["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in printed
        assert secret not in sent_to_aws
