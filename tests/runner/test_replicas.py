"""``cml runner launch --replicas N`` on the cloud every backend shares the code of (EC2 in moto): N runners at
once, each with its own registration and machine; a failure of any removes all of them."""

from __future__ import annotations

from tests.runner.conftest import live_instances


def launch(run_cli, *args):
    return run_cli("runner", "launch", "--cloud", "aws", "--name", "batch", "--launch-timeout", "3", *args)


def test_replicas_come_online_together_with_their_own_registrations(github_runners, cloud, fleet, run_cli, tmp_path):
    result = launch(run_cli, "--replicas", "2")

    assert result.exit_code == 0, result.stderr
    instances = {i["InstanceId"]: {t["Key"]: t["Value"] for t in i["Tags"]} for i in live_instances(cloud)}
    assert sorted(tags["cml:runner"] for tags in instances.values()) == ["batch-1", "batch-2"]
    assert sorted(r["name"] for r in github_runners.runner_store.runners.values()) == ["batch-1", "batch-2"]
    lines = result.stdout.strip().splitlines()
    assert [line.split(" is online on ")[0] for line in lines] == ["runner batch-1", "runner batch-2"]
    output = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert output["runner-name"] == "batch-1,batch-2"
    assert set(output["instance-id"].split(",")) == set(instances)


def test_a_replica_that_fails_takes_every_replica_with_it(github_runners, cloud, fleet, run_cli):
    fleet.behaviour = "never"

    result = launch(run_cli, "--replicas", "2", "--single")  # registered at once: just-in-time configurations

    assert result.exit_code == 1
    assert "runner batch-1 did not come online within 3 s" in result.stderr
    assert result.stderr.strip().endswith("; 2 machines and 2 runner registrations were removed"), result.stderr
    assert live_instances(cloud) == [] and github_runners.runner_store.runners == {}


def test_replicas_cannot_reuse(github_runners, run_cli):
    result = launch(run_cli, "--replicas", "2", "--reuse")

    assert result.exit_code != 0 and "--replicas: reusing a runner launches none" in result.stderr, result.stderr
