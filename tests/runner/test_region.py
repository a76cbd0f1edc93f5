"""Where ``cml runner`` looks: ``--cloud-region``, else boto3's region (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
profile's), else us-west; ``stop`` never reports success for a machine it did not find. Also iterative/cml's
``RUNNER_PATH``, ``RUNNER_REPO`` and ``RUNNER_DRIVER``."""

from __future__ import annotations

import json

import pytest

from tests.fakes.ec2 import read_settings
from tests.runner.conftest import live_instances
from tests.runner.test_launch import user_data

EAST = "us-east-1"


def tagged_machine(cloud, name: str, region: str = EAST) -> str:
    """A machine as cml runner launch leaves it (tagged cml:runner), started straight in moto."""
    reply = cloud.clients[region].run_instances(
        ImageId="ami-0c0a0000000000001", InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "cml:runner", "Value": name}]}])
    return reply["Instances"][0]["InstanceId"]


def test_launch_list_and_stop_work_in_aws_region(github_runners, cloud, fleet, run_cli, monkeypatch):
    monkeypatch.setenv("AWS_REGION", EAST)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-north-1")  # AWS_REGION comes first, as in the AWS SDKs
    monkeypatch.setenv("RUNNER_PATH", "/data/jobs")

    launched = run_cli("runner", "launch", "--cloud", "aws", "--name", "gpu-east", "--launch-timeout", "20")

    assert launched.exit_code == 0, launched.stderr
    assert launched.stdout.strip().endswith(f"(m5.2xlarge in {EAST})")
    run = cloud.last("RunInstances")
    assert read_settings(user_data(run))["CML_RUNNER_WORKDIR"] == "/data/jobs"
    machine = live_instances(cloud)[0]["InstanceId"]
    listed = run_cli("runner", "list", "--json")
    assert [row["instance"] for row in json.loads(listed.stdout)] == [machine]
    assert f"searched {EAST} (from AWS_REGION)" in listed.stderr
    stopped = run_cli("runner", "stop", "gpu-east")
    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"terminated {machine} (gpu-east)", "removed runner registration gpu-east"]
    assert f"searched {EAST} (from AWS_REGION)" in stopped.stderr
    assert live_instances(cloud) == []


@pytest.mark.parametrize("variables, config, source", [
    ({"AWS_DEFAULT_REGION": EAST}, "", "AWS_DEFAULT_REGION"),
    ({"AWS_PROFILE": "gpu"}, f"[default]\nregion = eu-west-1\n[profile gpu]\nregion = {EAST}\n", "profile gpu in "),
    ({}, f"[default]\nregion = {EAST}\n", "profile default in "),
])
def test_list_follows_boto3s_region(cloud, run_cli, monkeypatch, tmp_path, variables, config, source):
    machine = tagged_machine(cloud, "gpu-east")
    if config:
        (tmp_path / "config").write_text(config)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    listed = run_cli("runner", "list", "--json")

    assert listed.exit_code == 0, listed.stderr
    assert [row["instance"] for row in json.loads(listed.stdout)] == [machine]
    assert f"searched {EAST} (from {source}" in listed.stderr


def test_stop_of_a_machine_it_cannot_find_fails_and_keeps_the_registration(github_runners, cloud, run_cli,
                                                                          monkeypatch):
    machine = tagged_machine(cloud, "gpu-east")
    github_runners.runner_store.create("gpu-east", ["cml"])

    stopped = run_cli("runner", "stop", "gpu-east")

    assert stopped.exit_code == 1 and stopped.stdout == ""
    assert ("no runner machine named gpu-east in us-west-1 (from default us-west); kept the runner registration "
            "of gpu-east: if its machine is gone, remove it with --forget-registration") in stopped.stderr
    assert github_runners.runner_store.named("gpu-east") is not None
    listed = run_cli("runner", "list")
    assert listed.stdout.strip() == "no runner machines in us-west-1"
    assert "searched us-west-1 (from default us-west)" in listed.stderr
    everything = run_cli("runner", "stop", "--all")
    assert everything.exit_code == 0 and everything.stdout.strip() == "no runner machines in us-west-1"
    assert github_runners.runner_store.named("gpu-east") is not None

    forgotten = run_cli("runner", "stop", "gpu-east", "--forget-registration")
    assert forgotten.exit_code == 0, forgotten.stderr
    assert forgotten.stdout.strip() == "removed runner registration gpu-east"
    assert github_runners.runner_store.named("gpu-east") is None
    assert [i["InstanceId"] for i in live_instances(cloud)] == [machine]

    east = run_cli("runner", "stop", "gpu-east", env={"AWS_DEFAULT_REGION": EAST})
    assert east.exit_code == 0 and east.stdout.strip() == f"terminated {machine} (gpu-east)"
    assert live_instances(cloud) == []


def test_stop_removes_the_registration_of_a_machine_that_terminated_itself(github_runners, cloud, run_cli):
    machine = tagged_machine(cloud, "gpu-1", "us-west-1")
    cloud.ec2.terminate_instances(InstanceIds=[machine])
    github_runners.runner_store.create("gpu-1", ["cml"])

    stopped = run_cli("runner", "stop", "gpu-1")

    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"{machine} (gpu-1) is already terminated",
                                           "removed runner registration gpu-1"]
    assert github_runners.runner_store.runners == {}


def test_a_bad_region_in_the_environment_names_the_variable(cloud, run_cli):
    listed = run_cli("runner", "list", env={"AWS_REGION": "mars"})
    assert listed.exit_code == 1
    assert "'mars' is not an AWS region" in listed.stderr and "(from AWS_REGION); fix it or pass --cloud-region" \
        in listed.stderr
    option = run_cli("runner", "list", env={"CML_RUNNER_CLOUD_REGION": "mars"})
    assert option.exit_code == 1 and "(from CML_RUNNER_CLOUD_REGION)" in option.stderr


@pytest.mark.parametrize("variables", [{"RUNNER_DRIVER": "bitbucket"},
                                       {"RUNNER_REPO": "https://bitbucket.org/octo/models"}])
def test_launch_reads_iteratives_runner_driver_and_repo(github_runners, cloud, run_cli, variables):
    launched = run_cli("runner", "launch", "--cloud", "aws", "--name", "gpu-1", env=variables)

    assert launched.exit_code == 1
    assert "cml runner supports GitHub and GitLab, not bitbucket" in launched.stderr
    assert live_instances(cloud) == []
