"""``cml runner launch`` end to end: moto's EC2 (validating types, images and key pairs), the fake
GitHub and GitLab storing runner registrations, and machines that boot from their user data."""

from __future__ import annotations

import base64
import gzip

import pytest

from tests.fakes.ci_env import PAT
from tests.fakes.ec2 import read_settings
from tests.runner.conftest import GITLAB_TOKEN, live_instances

NEWEST_GPU_IMAGE = "ami-0d1a0000000000002"
ADMIN_ENDPOINTS = ("registration-token", "remove-token", "generate-jitconfig")


def launch(run_cli, *args):
    return run_cli("runner", "launch", "--cloud", "aws", "--launch-timeout", "20", *args)


def user_data(request: dict) -> bytes:
    data = base64.b64decode(request["UserData"])
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def tags_of(request: dict, resource: str = "instance") -> dict:
    specs = {}
    for key, value in request.items():
        if key.startswith("TagSpecification."):
            _, index, *rest = key.split(".")
            specs.setdefault(index, {})[".".join(rest)] = value
    for spec in specs.values():
        if spec.get("ResourceType") == resource:
            count = max(int(k.split(".")[1]) for k in spec if k.startswith("Tag."))
            return {spec[f"Tag.{i}.Key"]: spec[f"Tag.{i}.Value"] for i in range(1, count + 1)}
    return {}


def assert_nothing_left(cloud, forge) -> None:
    assert live_instances(cloud) == []
    assert forge.runner_store.runners == {}


def test_launch_starts_a_self_terminating_machine_and_waits_for_its_runner(github_runners, cloud, fleet, run_cli,
                                                                           tmp_path):
    result = launch(run_cli, "--cloud-type", "g4dn.xlarge", "--labels", "cml-gpu", "--name", "gpu-1")

    assert result.exit_code == 0, result.stderr
    run = cloud.last("RunInstances")
    assert run["InstanceType"] == "g4dn.xlarge"
    assert run["ImageId"] == NEWEST_GPU_IMAGE
    assert run["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert run["BlockDeviceMapping.1.Ebs.VolumeSize"] == "35"
    assert run["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] == "true"
    assert run["BlockDeviceMapping.1.Ebs.VolumeType"] == "gp3"
    assert run["MetadataOptions.HttpTokens"] == "required"
    assert "InstanceMarketOptions.MarketType" not in run
    assert run["ClientToken"]
    tags = tags_of(run)
    assert tags["cml:runner"] == "gpu-1" and tags["Name"] == "gpu-1" and tags["cml:labels"] == "cml-gpu"
    assert tags["cml:repository"] == "github:octo/models"
    assert tags["cml:max-runtime-ends"].endswith("Z")
    assert tags_of(run, "volume") == tags

    script = user_data(run)
    assert len(script) <= 16384
    settings = read_settings(script)
    assert settings["CML_GITHUB_REGISTRATION_TOKEN"] in github_runners.runner_store.registration_tokens
    assert settings["CML_GITHUB_REMOVAL_TOKEN"] in github_runners.runner_store.removal_tokens
    assert settings["CML_RUNNER_URL"] == "https://github.test/octo/models"
    assert settings["CML_RUNNER_IDLE_TIMEOUT"] == "300" and settings["CML_RUNNER_MAX_RUNTIME"] == str(3 * 86400)
    assert PAT.encode() not in script

    runner = github_runners.runner_store.named("gpu-1")
    assert runner["status"] == "online" and "cml-gpu" in runner["labels"]
    instance = live_instances(cloud)[0]
    assert result.stdout.strip() == f"runner gpu-1 is online on {instance['InstanceId']} (g4dn.xlarge in us-west-1)"
    assert (tmp_path / "output").read_text() == f"runner-name=gpu-1\ninstance-id={instance['InstanceId']}\n"
    ec2_actions = cloud.actions()
    assert ec2_actions[:4] == ["DescribeInstanceTypes", "DescribeInstanceTypeOfferings", "DescribeImages",
                               "RunInstances"]
    assert set(ec2_actions[4:]) <= {"DescribeInstances"}


def test_single_registers_an_ephemeral_just_in_time_runner(github_runners, cloud, fleet, run_cli):
    result = launch(run_cli, "--single", "--labels", "cml-gpu,big", "--name", "once", "--idle-timeout", "never")

    assert result.exit_code == 0, result.stderr
    settings = read_settings(user_data(cloud.last("RunInstances")))
    assert settings["CML_GITHUB_JITCONFIG"] and not settings["CML_GITHUB_REGISTRATION_TOKEN"]
    assert settings["CML_RUNNER_SINGLE"] == "1" and settings["CML_RUNNER_IDLE_TIMEOUT"] == "0"
    jit = [r.json() for r in github_runners.server.requests if r.path.endswith("/generate-jitconfig")]
    assert jit == [{"name": "once", "runner_group_id": 1, "labels": ["self-hosted", "Linux", "X64", "cml-gpu", "big"],
                    "work_folder": "_work"}]
    assert github_runners.runner_store.named("once")["status"] == "online"


def test_spot_request_and_sizes(github_runners, cloud, fleet, run_cli):
    result = launch(run_cli, "--cloud-region", "us-east", "--cloud-type", "m", "--cloud-gpu", "t4", "--cloud-spot",
                    "--cloud-spot-price", "0.5", "--cloud-hdd-size", "120", "--cloud-metadata", "team=vision",
                    "--cloud-metadata", "Name=trainer")

    assert result.exit_code == 0, result.stderr
    run = cloud.last("RunInstances")
    assert run["InstanceType"] == "g4dn.xlarge"
    assert run["InstanceMarketOptions.MarketType"] == "spot"
    assert run["InstanceMarketOptions.SpotOptions.MaxPrice"] == "0.5"
    assert run["InstanceMarketOptions.SpotOptions.SpotInstanceType"] == "one-time"
    assert run["InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"] == "terminate"
    assert run["BlockDeviceMapping.1.Ebs.VolumeSize"] == "120"
    assert tags_of(run)["team"] == "vision" and tags_of(run)["Name"] == "trainer"
    assert read_settings(user_data(run))["CML_RUNNER_SPOT"] == "1"
    assert "(g4dn.xlarge in us-east-1, spot)" in result.stdout
    assert live_instances(cloud)[0]["InstanceLifecycle"] == "spot"


def test_no_spot_capacity_is_a_clear_error_or_falls_back_on_demand(github_runners, cloud, fleet, run_cli):
    spot = {"InstanceMarketOptions.MarketType": "spot"}
    cloud.fail("RunInstances", "InsufficientInstanceCapacity", when=spot, times=2)

    refused = launch(run_cli, "--cloud-spot", "--single")
    assert refused.exit_code == 1
    assert "no spot capacity for m5.2xlarge now" in refused.stderr and "--cloud-spot-fallback" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert_nothing_left(cloud, github_runners)

    fallback = launch(run_cli, "--cloud-spot", "--cloud-spot-fallback", "--single")
    assert fallback.exit_code == 0, fallback.stderr
    assert "starting an on-demand instance" in fallback.stderr
    assert "InstanceMarketOptions.MarketType" not in cloud.last("RunInstances")
    assert live_instances(cloud)[0].get("InstanceLifecycle") != "spot"


def test_images_by_owner_pattern_and_id(github_runners, cloud, fleet, run_cli):
    canonical = "ubuntu@099720109477:x86_64:ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
    assert launch(run_cli, "--cloud-image", canonical, "--name", "a").exit_code == 0
    assert cloud.last("RunInstances")["ImageId"] == "ami-0c0a0000000000001"

    own = cloud.ec2.register_image(Name="team-gpu-image")["ImageId"]
    assert launch(run_cli, "--cloud-image", own, "--name", "b").exit_code == 0
    assert cloud.last("RunInstances")["ImageId"] == own

    arm = launch(run_cli, "--cloud-type", "c7g.xlarge", "--name", "c", "--single")
    assert arm.exit_code == 0, arm.stderr
    assert cloud.last("RunInstances")["ImageId"] == "ami-0d1a0000000000003"
    assert github_runners.runner_store.named("c")["labels"][:3] == ["self-hosted", "Linux", "ARM64"]


@pytest.mark.parametrize("args, message", [
    (["--cloud-type", "g9x.huge"], "--cloud-type: EC2 has no instance type 'g9x.huge' in us-west-1"),
    (["--cloud-type", "huge"], "--cloud-type: 'huge' is not an instance type"),
    (["--cloud-type", "g5g.xlarge"], "--cloud-type: g5g.xlarge is not offered in us-west-1"),
    (["--cloud-gpu", "t5"], "--cloud-gpu: unknown GPU 't5'"),
    (["--cloud-type", "m5.large", "--cloud-gpu", "t4"], "--cloud-gpu: --cloud-type m5.large has no t4 GPU"),
    (["--cloud-region", "mars"], "--cloud-region: 'mars' is not an AWS region"),
    (["--cloud-image", "ami-0123456789abcdef0"], "--cloud-image: no image ami-0123456789abcdef0 in us-west-1"),
    (["--cloud-image", "amazon::nothing-like-this-*"], "--cloud-image: no x86_64 image named 'nothing-like-this-*'"),
    (["--cloud-hdd-size", "10"], "--cloud-hdd-size: 10 GB is smaller than the image's 15 GB root volume"),
    (["--cloud", "azure"], "--cloud: no 'azure' backend"),
    (["--idle-timeout", "soon"], "'soon' is not a duration"),
    (["--labels", "a b"], "--labels: 'a b' is not a runner label"),
    (["--name", "bad name"], "--name: 'bad name' is not a runner name"),
    (["--single", "--reuse"], "--single: --single cannot be combined"),
    (["--cloud-startup-script", "not base64!"], "--cloud-startup-script: not base64"),
    (["--cloud-ssh-private", "nonsense"], "--cloud-ssh-private: not an unencrypted"),
    (["--cloud-metadata", "aws:x=1"], "--cloud-metadata: 'aws:x=1' is not a tag"),
])
def test_bad_input_is_one_line_and_creates_nothing(github_runners, cloud, run_cli, args, message):
    result = launch(run_cli, *args)

    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "RunInstances" not in cloud.actions()
    assert not [r for r in github_runners.server.requests if r.method != "GET"]


def test_a_startup_script_over_the_user_data_limit_is_refused_before_anything_is_created(github_runners, cloud, run_cli):
    import os

    noise = base64.b64encode(b"echo " + base64.b64encode(os.urandom(20000))).decode()
    result = launch(run_cli, "--cloud-startup-script", noise)

    assert result.exit_code == 1
    assert "--cloud-startup-script: the machine's startup script is" in result.stderr
    assert "RunInstances" not in cloud.actions()
    assert not [r for r in github_runners.server.requests if r.method == "POST"]


def test_a_large_startup_script_is_compressed_into_the_user_data(github_runners, cloud, fleet, run_cli):
    script = "#!/bin/bash\n" + "".join(f"echo step {i} of the environment setup\n" for i in range(800))
    result = launch(run_cli, "--cloud-startup-script", base64.b64encode(script.encode()).decode())

    assert result.exit_code == 0, result.stderr
    raw = base64.b64decode(cloud.last("RunInstances")["UserData"])
    assert raw[:2] == b"\x1f\x8b" and len(raw) <= 16384
    assert base64.b64decode(read_settings(raw)["CML_USER_SCRIPT"]).decode() == script


def test_ssh_key_and_key_pair(github_runners, cloud, fleet, run_cli):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    cloud.ec2.import_key_pair(KeyName="ops", PublicKeyMaterial=public.encode())

    result = launch(run_cli, "--cloud-ssh-private", private, "--cloud-aws-key-name", "ops")

    assert result.exit_code == 0, result.stderr
    run = cloud.last("RunInstances")
    assert run["KeyName"] == "ops"
    script = user_data(run).decode()
    assert read_settings(script.encode())["CML_SSH_PUBLIC_KEY"].startswith(public)
    assert "PRIVATE KEY" not in script


def test_a_missing_key_pair_fails_the_launch_and_removes_the_registration(github_runners, cloud, fleet, run_cli):
    result = launch(run_cli, "--cloud-aws-key-name", "nobody", "--single")

    assert result.exit_code == 1
    assert "InvalidKeyPair.NotFound" in result.stderr and "the runner registration was removed" in result.stderr
    assert_nothing_left(cloud, github_runners)


def test_reuse_and_name_checks(github_runners, cloud, fleet, run_cli):
    store = github_runners.runner_store
    busy = store.create("busy-gpu", ["self-hosted", "cml-gpu"])
    busy.update(status="online", busy=True)

    reused = launch(run_cli, "--labels", "cml-gpu", "--reuse")
    assert reused.exit_code == 0 and reused.stdout.strip() == "reusing runner busy-gpu (busy, labels self-hosted,cml-gpu)"
    assert cloud.actions() == []

    fresh = launch(run_cli, "--labels", "cml-gpu", "--reuse-idle", "--name", "idle-gpu")
    assert fresh.exit_code == 0 and "RunInstances" in cloud.actions()

    again = launch(run_cli, "--labels", "cml-gpu", "--reuse-idle")
    assert again.exit_code == 0 and again.stdout.startswith("reusing runner idle-gpu (idle")

    taken = launch(run_cli, "--name", "busy-gpu")
    assert taken.exit_code == 1
    assert "runner name busy-gpu is already in use" in taken.stderr
    assert cloud.actions().count("RunInstances") == 1


def test_bare_runner_command_launches_like_iterative_cml(github_runners, cloud, fleet, run_cli):
    result = run_cli("runner", "--cloud", "aws", "--labels", "cml", "--name", "bare")
    assert result.exit_code == 0, result.stderr
    assert "runner bare is online" in result.stdout


def test_gitlab_creates_a_tagged_runner_whose_own_token_goes_to_the_machine(gitlab_runners, cloud, fleet, run_cli):
    result = launch(run_cli, "--labels", "cml-gpu", "--name", "gl-gpu")

    assert result.exit_code == 0, result.stderr
    assert gitlab_runners.runner_requests == [{
        "runner_type": "project_type", "project_id": 42, "description": "gl-gpu", "tag_list": "cml-gpu",
        "run_untagged": False, "locked": True, "access_level": "not_protected"}]
    settings = read_settings(user_data(cloud.last("RunInstances")))
    assert settings["CML_FORGE"] == "gitlab"
    assert settings["CML_GITLAB_RUNNER_TOKEN"].startswith("glrt-")
    assert settings["CML_RUNNER_URL"] == gitlab_runners.base_url
    assert GITLAB_TOKEN not in user_data(cloud.last("RunInstances")).decode()
    runner = gitlab_runners.runner_store.named("gl-gpu")
    assert runner["status"] == "online" and runner["labels"] == ["cml-gpu"]


def test_gitlab_failure_deletes_the_created_runner(gitlab_runners, cloud, fleet, run_cli):
    fleet.behaviour = "never"
    result = launch(run_cli, "--launch-timeout", "2", "--name", "gl-late")

    assert result.exit_code == 1
    assert "runner gl-late did not come online within 2 s" in result.stderr
    assert_nothing_left(cloud, gitlab_runners)


def test_other_forges_say_runners_are_github_and_gitlab_only(cloud, run_cli, serve, monkeypatch, tmp_path):
    from tests.fakes.ci_env import bitbucket_env
    from tests.fakes.forges import FakeBitbucket

    fake = FakeBitbucket()
    server = serve(fake)
    monkeypatch.chdir(tmp_path)
    result = run_cli("runner", "launch", "--cloud", "aws", env=bitbucket_env(server, "user:app-password"))
    assert result.exit_code == 1
    assert "cml runner supports GitHub and GitLab" in result.stderr
    assert cloud.actions() == []


def test_an_organisation_url_registers_an_organisation_runner(github_runners, cloud, fleet, run_cli):
    result = launch(run_cli, "--repo", "https://github.test/octo", "--api-url", github_runners.base_url,
                    "--name", "org-gpu", "--single")

    assert result.exit_code == 0, result.stderr
    paths = {r.path for r in github_runners.server.requests if r.method == "POST"}
    assert paths == {"/orgs/octo/actions/runners/generate-jitconfig", "/orgs/octo/actions/runners/remove-token"}
    assert read_settings(user_data(cloud.last("RunInstances")))["CML_RUNNER_URL"] == "https://github.test/octo"


def test_without_cloud_nothing_is_launched(github_runners, cloud, run_cli):
    result = run_cli("runner", "launch", "--labels", "cml")
    assert result.exit_code == 1
    assert "--cloud: required: cml runner starts runners on cloud machines" in result.stderr
    assert cloud.actions() == [] and github_runners.server.requests == []


def test_without_aws_credentials_nothing_is_created(github_runners, cloud, run_cli, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    result = launch(run_cli)

    assert result.exit_code == 1
    assert "no AWS credentials for cml runner: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in result.stderr
    assert cloud.actions() == [] and not [r for r in github_runners.server.requests if r.method == "POST"]


def test_the_documented_iterative_cml_runner_line_works_unchanged(github_runners, cloud, fleet, run_cli):
    import shlex

    line = "cml runner launch --cloud=aws --cloud-region=us-west --cloud-type=g4dn.xlarge --labels=cml-gpu"
    result = run_cli(*shlex.split(line)[1:])

    assert result.exit_code == 0, result.stderr
    assert cloud.last("RunInstances")["InstanceType"] == "g4dn.xlarge"
