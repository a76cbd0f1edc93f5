"""``cml runner launch|list|stop --cloud gcp`` end to end, against a fake Compute Engine on loopback.

The fake (:mod:`tests.fakes.gcp`) checks every request against Google's discovery document for
compute v1, keeps instances and operations as Compute Engine does, and accepts only what a
service-account key file (a fresh RSA key) yields: its token endpoint's access tokens or google-auth's
self-signed JWTs, signature checked. Real google-auth and google-cloud-compute code runs, and every
request that would leave loopback hits a tripwire proxy instead. Its VMs boot their
``startup-script`` metadata in the same sandbox as the EC2 tests' machines, with a metadata server
that answers for the instance, and run their ``shutdown-script`` when they power off.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import requests

from tests.fakes.ci_env import PAT
from tests.fakes.gcp import (
    PROJECT,
    SERVICE_ACCOUNT,
    ComputeDiscovery,
    ComputeServer,
    FakeCompute,
    GcpFleet,
    Tripwire,
    metadata_value,
    script_settings,
    verify_jwt,
    write_credentials,
)
from tests.runner.conftest import GITLAB_TOKEN

ZONE = "us-west1-b"  # cml runner's default for gcp (us-west)
JIT = r"/actions/runners/generate-jitconfig$"


@pytest.fixture(scope="session")
def compute_discovery():
    return ComputeDiscovery()


@pytest.fixture
def gcp(compute_discovery, monkeypatch, tmp_path):
    """A fake Compute Engine with Application Default Credentials pointing at it; fails the test if any request
    broke the discovery document or tried to leave loopback."""
    for name in list(os.environ):
        if name.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_", "GCLOUD_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    fake = FakeCompute(compute_discovery, step_seconds=0.1)
    with ComputeServer(fake) as server, Tripwire() as tripwire:
        fake.server, fake.tripwire = server, tripwire
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_credentials(tmp_path, server)))
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        monkeypatch.setenv("CML_GCP_COMPUTE_ENDPOINT", server.url)
        monkeypatch.setenv("CML_GCP_REQUEST_TIMEOUT", "2")
        # Anything not addressed to loopback goes to the tripwire, the metadata server included.
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, tripwire.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1,localhost")
        monkeypatch.setenv("GCE_METADATA_HOST", tripwire.url.removeprefix("http://"))
        monkeypatch.setenv("GCE_METADATA_IP", tripwire.url.removeprefix("http://"))
        yield fake
    assert fake.violations == [], "requests not allowed by compute v1's discovery document"
    assert tripwire.requests == [], "requests that would have left loopback"


@pytest.fixture
def vms(gcp, request):
    """The VMs: each boots its startup script once RUNNING; set ``vms.behaviour`` to change that."""
    forges = {}
    for name, fixture in (("github", "github_runners"), ("gitlab", "gitlab_runners")):
        if fixture in request.fixturenames:
            forges[name] = request.getfixturevalue(fixture)
    with GcpFleet(gcp.server, forges, poll_seconds=0.2, proxy=gcp.tripwire.url) as fleet:
        yield fleet
    assert fleet.errors == []


def launch(run_cli, *args):
    return run_cli("runner", "launch", "--cloud", "gcp", "--launch-timeout", "30", *args)


def inserted(gcp) -> dict:
    calls = gcp.calls("instances.insert")
    assert calls, f"no instances.insert among {gcp.kinds()}"
    return calls[-1]["body"]


def wait_until(condition, timeout: float = 15, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message or "condition not met in time"
        time.sleep(0.05)


def gone(gcp, timeout: float = 10) -> None:
    """Every instance is deleted (one being deleted is on its way: give it the moment it takes)."""
    wait_until(lambda: gcp.live() == [], timeout, f"instances left: {[(i['name'], i['status']) for i in gcp.live()]}")


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert PAT not in result.stderr and PAT not in result.stdout
    return lines[0]


def test_launch_list_stop(github_runners, gcp, vms, run_cli, tmp_path):
    result = launch(run_cli, "--name", "gpu-1", "--labels", "cml-gpu", "--single")

    assert result.exit_code == 0, result.stderr
    body = inserted(gcp)
    name = body["name"]
    assert body["labels"]["cml-runner"] == "gpu-1"
    assert body["machineType"].endswith(f"zones/{ZONE}/machineTypes/" + body["machineType"].rsplit("/", 1)[-1])
    assert [d["autoDelete"] for d in body["disks"]] == [True]
    bearer = gcp.calls("instances.insert")[-1]["headers"]["Authorization"].removeprefix("Bearer ")
    assert verify_jwt(bearer, gcp.public_keys)["iss"] == SERVICE_ACCOUNT  # google-auth's self-signed JWT
    query = gcp.calls("instances.insert")[-1]["query"]
    assert uuid.UUID(query["requestId"][0])
    script = metadata_value(body, "startup-script")
    settings = script_settings(script)
    assert settings["CML_RUNNER_NAME"] == "gpu-1" and settings["CML_RUNNER_SINGLE"] == "1"
    runner = github_runners.runner_store.named("gpu-1")
    assert runner["status"] == "online" and "cml-gpu" in runner["labels"]
    assert result.stdout.strip().startswith(f"runner gpu-1 is online on {name} (")
    assert (tmp_path / "output").read_text() == f"runner-name=gpu-1\ninstance-id={name}\n"
    machine = vms.machines[name]
    assert machine.find("run.sh start"), machine.report()

    listed = run_cli("runner", "list", "--cloud", "gcp", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["instance"], r["state"], r["market"]) for r in rows] == [
        ("gpu-1", name, "running", "on-demand")]
    assert rows[0]["repository"] == "github:octo/models" and rows[0]["max runtime ends"].endswith("Z")
    filters = [c["query"].get("filter", [""])[0] for c in gcp.calls("instances.aggregatedList")]
    assert filters and all("labels.cml-runner" in f for f in filters)

    stopped = run_cli("runner", "stop", "gpu-1", "--cloud", "gcp")

    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"terminated {name} (gpu-1)", "removed runner registration gpu-1"]
    gone(gcp)
    assert github_runners.runner_store.runners == {}
    wait_until(lambda: machine.exited(), 10, "the VM's processes outlived the VM")
    assert run_cli("runner", "list", "--cloud", "gcp").stdout.strip() == f"no runner machines in {ZONE}"


def test_a_gitlab_runner_on_a_vm(gitlab_runners, gcp, vms, run_cli):
    result = launch(run_cli, "--name", "gl-1", "--labels", "gpu")

    assert result.exit_code == 0, result.stderr
    settings = script_settings(metadata_value(inserted(gcp), "startup-script"))
    assert settings["CML_GITLAB_RUNNER_TOKEN"].startswith("glrt-")
    assert GITLAB_TOKEN not in json.dumps(inserted(gcp))
    assert gitlab_runners.runner_store.named("gl-1")["status"] == "online"
    stopped = run_cli("runner", "stop", "gl-1", "--cloud", "gcp")
    assert stopped.exit_code == 0, stopped.stderr
    gone(gcp)
    assert gitlab_runners.runner_store.runners == {}


def test_max_runtime_is_enforced_by_compute_engine(github_runners, gcp, vms, run_cli):
    """``maxRunDuration`` is the maximum runtime (plus the time to unregister) with ``DELETE``: Compute Engine
    deletes the VM then, even when nothing inside it works any more."""
    from cml.runner.backends.gcp import DELETE_GRACE_SECONDS

    vms.behaviour = "never"
    result = launch(run_cli, "--name", "slow", "--max-runtime", "1m", "--launch-timeout", "2")
    assert result.exit_code == 1  # never online: cleaned up; what matters here is the request
    scheduling = inserted(gcp)["scheduling"]
    assert scheduling["instanceTerminationAction"] == "DELETE"
    assert int(scheduling["maxRunDuration"]["seconds"]) - 60 in (DELETE_GRACE_SECONDS - 1, DELETE_GRACE_SECONDS)
    gone(gcp)

    vms.behaviour = "boot"
    result = launch(run_cli, "--name", "capped", "--max-runtime", "1m", "--idle-timeout", "never")
    assert result.exit_code == 0, result.stderr
    name = inserted(gcp)["name"]
    gcp.fast_forward(60 + DELETE_GRACE_SECONDS - 5)
    time.sleep(0.5)
    assert [i["name"] for i in gcp.live()] == [name], "deleted before its maxRunDuration"
    gcp.fast_forward(5)
    wait_until(lambda: any(i["name"] == name for i in gcp.deleted), 10, "Compute Engine did not delete the VM")
    assert not [c for c in gcp.calls("instances.delete") if c["path"].endswith("/" + name)], \
        "deleted by the cloud's own maxRunDuration, not by a request"
    wait_until(lambda: vms.machines[name].exited(), 10, "the VM's processes outlived the VM")


@pytest.mark.parametrize("options, expected", [
    (("--cloud-spot",), {"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE",
                         "onHostMaintenance": "TERMINATE", "automaticRestart": False}),
    (("--cloud-type", "m+t4"), {"onHostMaintenance": "TERMINATE", "automaticRestart": False}),
    (("--cloud-type", "m+l4", "--cloud-spot"), {"provisioningModel": "SPOT", "onHostMaintenance": "TERMINATE"}),
], ids=["spot", "t4", "l4-spot"])
def test_spot_and_gpu_scheduling(github_runners, gcp, vms, run_cli, options, expected):
    result = launch(run_cli, "--name", "gpu", *options)

    assert result.exit_code == 0, result.stderr
    body = inserted(gcp)
    scheduling = body["scheduling"]
    assert {key: scheduling.get(key) for key in expected} == expected
    assert "maxRunDuration" in scheduling
    if "m+t4" in options:
        assert [(a["acceleratorType"].rsplit("/", 1)[-1], a["acceleratorCount"])
                for a in body["guestAccelerators"]] == [("nvidia-tesla-t4", 1)]
    if "--cloud-spot" in options:
        assert ", spot)" in result.stdout
        listed = json.loads(run_cli("runner", "list", "--cloud", "gcp", "--json").stdout)
        assert [row["market"] for row in listed] == ["spot"]
    stopped = run_cli("runner", "stop", "--all", "--cloud", "gcp")
    assert stopped.exit_code == 0, stopped.stderr
    gone(gcp)


def test_no_spot_capacity_falls_back_to_on_demand_when_asked(github_runners, gcp, vms, run_cli):
    gcp.fail("instances.insert", capacity=True)

    result = launch(run_cli, "--name", "gpu", "--cloud-spot", "--cloud-spot-fallback")

    assert result.exit_code == 0, result.stderr
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in result.stderr and "on-demand" in result.stderr
    first, second = (call["body"] for call in gcp.calls("instances.insert"))
    assert first["scheduling"]["provisioningModel"] == "SPOT" and "provisioningModel" not in second["scheduling"]
    assert [i["name"] for i in gcp.live()] == [second["name"]]
    assert run_cli("runner", "stop", "gpu", "--cloud", "gcp").exit_code == 0
    gone(gcp)


def test_no_token_reaches_the_vm_but_the_registration_material(github_runners, gcp, vms, run_cli, tmp_path):
    result = launch(run_cli, "--name", "gpu-1", "--single", "-v")
    assert result.exit_code == 0, result.stderr

    body = inserted(gcp)
    sent = json.dumps(body)
    settings = script_settings(metadata_value(body, "startup-script"))
    key = json.loads((tmp_path / "service-account.json").read_text())
    secrets = [PAT, key["private_key"].splitlines()[1], *gcp.access_tokens]
    for request in gcp.requests:  # the bearer tokens cml used (access tokens or self-signed JWTs)
        authorization = request["headers"].get("Authorization", "")
        if authorization:
            secrets.append(authorization.removeprefix("Bearer "))
    for secret in secrets:
        assert secret not in sent
        assert secret not in result.stdout + result.stderr
    store = github_runners.runner_store
    assert settings["CML_GITHUB_JITCONFIG"] in store.jit_configs or store.named("gpu-1")["status"] == "online"
    assert settings["CML_GITHUB_REMOVAL_TOKEN"] in store.removal_tokens
    material = {k for k, v in settings.items() if v and k.startswith(("CML_GITHUB_", "CML_GITLAB_")) and
                not k.endswith(("_RELEASES", "_DOWNLOADS"))}
    assert material == {"CML_GITHUB_JITCONFIG", "CML_GITHUB_REMOVAL_TOKEN"}
    run_cli("runner", "stop", "gpu-1", "--cloud", "gcp")
    gone(gcp)


@pytest.mark.parametrize("ending", ["single", "idle"])
def test_the_vm_deletes_itself_when_its_runner_ends(github_runners, gcp, vms, run_cli, ending):
    """A powered-off VM still bills its disk: its shutdown script deletes it with the VM's own token."""
    options = ("--single",) if ending == "single" else ("--idle-timeout", "2s")
    result = launch(run_cli, "--name", "gpu-1", *options)
    assert result.exit_code == 0, result.stderr
    name = inserted(gcp)["name"]
    machine = vms.machines[name]
    if ending == "single":
        machine.touch("job-start")
        wait_until(lambda: machine.find("run.sh job-start"), 10, machine.report())
        machine.touch("job-end")

    wait_until(lambda: any(i["name"] == name for i in gcp.deleted), 30, machine.report())

    deletes = gcp.calls("instances.delete")
    assert len(deletes) == 1 and deletes[0]["path"].endswith(f"/zones/{ZONE}/instances/{name}")
    token = deletes[0]["headers"].get("Authorization", "").removeprefix("Bearer ")
    assert gcp.vm_tokens.get(token) == name, "deleted by the VM itself, with its service account's token"
    assert "powering off" in machine.log, machine.report()
    assert github_runners.runner_store.runners == {}, "the runner unregistered before the VM went"


def test_a_preempted_spot_vm_unregisters_its_runner_and_goes(github_runners, gcp, vms, run_cli):
    result = launch(run_cli, "--name", "gpu-1", "--cloud-spot", "--idle-timeout", "never")
    assert result.exit_code == 0, result.stderr
    name = inserted(gcp)["name"]
    machine = vms.machines[name]

    vms.preempted.add(name)

    wait_until(lambda: any(i["name"] == name for i in gcp.deleted), 20, machine.report())
    assert "shutting down: spot interruption notice" in machine.log, machine.report()
    assert github_runners.runner_store.runners == {}


def test_the_fake_refuses_what_the_discovery_document_does_not_allow(gcp):
    """The fake's own check: an unknown body field, a badly typed one, an undeclared query parameter and a
    missing required one are each refused with 400 and recorded."""
    token = "ya29.test-" + uuid.uuid4().hex
    gcp.access_tokens.add(token)
    url = f"{gcp.server.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances"
    headers = {"Authorization": f"Bearer {token}"}
    bad = [
        requests.post(url, json={"name": "x", "colour": "blue"}, headers=headers, timeout=10),
        requests.post(url, json={"name": "x", "scheduling": {"maxRunDuration": {"seconds": 60}}},
                      headers=headers, timeout=10),
        requests.post(url, json={"name": "x", "scheduling": {"provisioningModel": "CHEAP"}}, headers=headers,
                      timeout=10),
        requests.get(url, params={"colour": "blue"}, headers=headers, timeout=10),
        requests.get(f"{gcp.server.url}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/x/fly", headers=headers,
                     timeout=10),
    ]
    assert [answer.status_code for answer in bad] == [400] * 5
    assert len(gcp.violations) == 5, gcp.violations
    assert "unknown field 'colour'" in gcp.violations[0]
    assert "seconds: 60 is not a string" in gcp.violations[1]  # an int64 travels as a string
    assert "'CHEAP' is not one of" in gcp.violations[2]
    gcp.violations.clear()
    unauthenticated = requests.get(url, timeout=10)
    assert unauthenticated.status_code == 401
    good = requests.get(url, params={"filter": 'labels.cml-runner:* AND status != "TERMINATED"'}, headers=headers,
                        timeout=10)
    assert good.status_code == 200 and gcp.violations == []


def test_a_repeated_request_id_starts_one_instance(gcp):
    """Compute Engine's idempotency, as the client library sends it."""
    from google.api_core.client_options import ClientOptions
    from google.cloud import compute_v1

    client = compute_v1.InstancesClient(client_options=ClientOptions(api_endpoint=gcp.server.url), transport="rest")
    instance = compute_v1.Instance(
        name="twice", machine_type=f"zones/{ZONE}/machineTypes/e2-standard-2",
        disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")])
    request_id = str(uuid.uuid4())
    first = client.insert_unary(request=compute_v1.InsertInstanceRequest(
        project=PROJECT, zone=ZONE, instance_resource=instance, request_id=request_id))
    second = client.insert_unary(request=compute_v1.InsertInstanceRequest(
        project=PROJECT, zone=ZONE, instance_resource=instance, request_id=request_id))
    assert first.name == second.name
    wait_until(lambda: [i["status"] for i in gcp.live()] == ["RUNNING"])
    assert [i["name"] for i in gcp.live()] == ["twice"]
    client.delete_unary(project=PROJECT, zone=ZONE, instance="twice")
    gone(gcp)


@pytest.mark.parametrize("kind", ["instances.insert", "zoneOperations.wait", "instances.get", "stalled insert"])
def test_a_passing_failure_is_retried_without_a_second_vm(github_runners, gcp, vms, run_cli, kind):
    """A 503 or a stalled answer (the request took effect, its answer never came) is repeated; the insert's
    ``requestId`` makes the repeat return the first VM."""
    if kind == "stalled insert":
        gcp.fail("instances.insert", delay=3, after=True)
    else:
        gcp.fail(kind, status=503, reason="backendError", message="The service is currently unavailable.")

    result = launch(run_cli, "--name", "gpu", "--single")

    assert result.exit_code == 0, result.stderr
    inserts = gcp.calls("instances.insert")
    assert len(inserts) == (1 if kind in ("zoneOperations.wait", "instances.get") else 2)
    assert len({c["query"]["requestId"][0] for c in inserts}) == 1
    assert [i["name"] for i in gcp.live()] == [inserts[0]["body"]["name"]]
    assert run_cli("runner", "stop", "gpu", "--cloud", "gcp").exit_code == 0
    gone(gcp)


# -- a failure at every step leaves nothing behind (as tests/runner/test_launch_faults.py for EC2) ----------


def leftovers(gcp, forge) -> tuple[int, int]:
    deadline = time.monotonic() + 5
    while gcp.live() and time.monotonic() < deadline:  # a VM being deleted is gone a moment later
        time.sleep(0.05)
    return len(gcp.live()), len(forge.runner_store.runners)


FAULTS = {
    "forge refuses the just-in-time configuration": (
        lambda gcp, forge, vms: forge.server.fail("POST", JIT, status=500, times=20),
        "creating a just-in-time runner configuration", False),
    "instances.insert fails": (
        lambda gcp, forge, vms: gcp.fail("instances.insert", status=500, times=20),
        "starting the VM failed", True),
    "instances.insert is refused": (
        lambda gcp, forge, vms: gcp.fail("instances.insert", status=400, reason="invalid",
                                         message="Invalid value for field 'resource.networkInterfaces'"),
        "Invalid value for field 'resource.networkInterfaces'", True),
    "the insert's answer is lost after the VM was created": (
        lambda gcp, forge, vms: gcp.fail("instances.insert", status=503, after=True, times=20),
        "starting the VM failed", True),
    "no capacity in the zone": (
        lambda gcp, forge, vms: gcp.fail("instances.insert", capacity=True),
        "ZONE_RESOURCE_POOL_EXHAUSTED", True),
    "waiting for the operation fails": (
        lambda gcp, forge, vms: gcp.fail("zoneOperations.wait", status=503, times=20),
        "starting the VM failed", True),
    "reading the VM fails": (
        lambda gcp, forge, vms: (setattr(vms, "behaviour", "never"), gcp.fail("instances.get", status=500, times=20)),
        "reading VM", True),
    "the runner never comes online": (
        lambda gcp, forge, vms: setattr(vms, "behaviour", "never"),
        "runner gpu did not come online within 3 s (--launch-timeout)", True),
    "the VM powers off before its runner is online": (
        lambda gcp, forge, vms: setattr(vms, "behaviour", "power-off"),
        "before runner gpu came online", True),
    "deleting fails once": (
        lambda gcp, forge, vms: (setattr(vms, "behaviour", "never"), gcp.fail("instances.delete", status=503)),
        "did not come online", True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failure_at_any_step_leaves_nothing_behind(github_runners, gcp, vms, run_cli, fault):
    inject, message, started = FAULTS[fault]
    inject(gcp, github_runners, vms)

    result = run_cli("runner", "launch", "--cloud", "gcp", "--single", "--name", "gpu", "--launch-timeout", "3")

    assert result.exit_code == 1
    line = one_line(result)
    assert message in line
    assert bool(gcp.calls("instances.insert")) is started
    assert leftovers(gcp, github_runners) == (0, 0)
    if started:
        assert line.endswith(("the runner registration was removed", "the runner registration were removed")), line
    else:
        assert "removed" not in line, line
