"""``cml runner launch|list|stop --cloud kubernetes`` end to end, against a fake cluster on loopback.

The cluster (:class:`tests.fakes.kubernetes.FakeKubernetes`) validates every object against the official schemas,
schedules pods on its nodes, boots each pod's startup script from its Secret in a sandbox (the runner then comes
online on the fake GitLab), enforces activeDeadlineSeconds and garbage-collects what a deleted Job owned.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.kubernetes import BEARER_TOKEN, KUBERNETES_VERSION, Node
from tests.runner.conftest import GITLAB_TOKEN
from tests.runner.kubernetes_fixtures import NAMESPACE, SPEED, cluster  # noqa: F401 (fixture)

MANAGED = ("app.kubernetes.io/managed-by", "cml")


def launch(run_cli, *args):
    return run_cli("runner", "launch", "--cloud", "kubernetes", "--launch-timeout", "30", *args)


def ours(fake, kind: str) -> list[dict]:
    """The namespace's objects of ``kind`` labelled as cml's."""
    return [o for o in fake.all(kind, NAMESPACE) if (o["metadata"].get("labels") or {}).get(MANAGED[0]) == MANAGED[1]]


def assert_nothing_left(fake, forge) -> None:
    """No Job, Pod or Secret in the namespace, and no runner registration on the forge."""
    assert fake.all("jobs", NAMESPACE) == []
    assert fake.all("pods", NAMESPACE) == []
    assert fake.all("secrets", NAMESPACE) == []
    assert forge.runner_store.runners == {}


def assert_every_object_valid(fake) -> None:
    assert fake.rejected == [], json.dumps(fake.rejected, indent=1)[:2000]


def test_launch_replicas_list_and_stop(gitlab_runners, cluster, run_cli):  # noqa: F811
    result = launch(run_cli, "--replicas", "3", "--name", "trainer", "--labels", "cml,k8s", "--max-runtime", "7200")

    assert result.exit_code == 0, result.stderr
    names = ["trainer-1", "trainer-2", "trainer-3"]
    store = gitlab_runners.runner_store
    assert sorted(r["name"] for r in store.runners.values()) == names
    assert all(r["status"] == "online" for r in store.runners.values())
    for name in names:
        assert name in result.stdout
    # Each pod really ran its startup script: the sandbox saw the runner process start with its glrt- token.
    assert len(cluster.machines) == 3
    for machine in cluster.machines.values():
        assert machine.find("gitlab-runner start"), machine.report()

    jobs = ours(cluster, "jobs")
    assert len(jobs) == 3
    for job in jobs:
        spec = job["spec"]
        assert spec["activeDeadlineSeconds"] == 7200
        assert spec["backoffLimit"] == 0
        assert isinstance(spec.get("ttlSecondsAfterFinished"), int)
        assert spec["template"]["spec"]["restartPolicy"] == "Never"
    secrets = cluster.all("secrets", NAMESPACE)
    assert len(secrets) == 3
    job_uids = {job["metadata"]["uid"] for job in jobs}
    for secret in secrets:
        owners = secret["metadata"].get("ownerReferences") or []
        assert {owner["uid"] for owner in owners} & job_uids, secret["metadata"]
    assert_every_object_valid(cluster)

    listed = run_cli("runner", "list", "--cloud", "kubernetes", "--json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(row["name"] for row in rows) == names
    assert {row["state"] for row in rows} == {"running"}
    assert all(not row["up"].startswith("-") for row in rows), rows
    nodes = {pod["spec"]["nodeName"] for pod in cluster.all("pods", NAMESPACE)}
    assert nodes and all(node in listed.stdout for node in nodes), f"list names no node: {listed.stdout}"

    stopped = run_cli("runner", "stop", "--cloud", "kubernetes", "trainer-1")
    assert stopped.exit_code == 0, stopped.stderr
    # The deleted pod got SIGTERM: its script stopped the runner and unregistered it with its own token.
    sandbox = cluster.terminated[0]
    sandbox.wait_for("gitlab-runner signal TERM", timeout=10)
    sandbox.wait_for("curl argv -fsS -X DELETE -F token=<- http://127.0.0.1", timeout=10)
    assert sorted(r["name"] for r in store.runners.values()) == names[1:]
    assert len(ours(cluster, "jobs")) == 2

    everything = run_cli("runner", "stop", "--cloud", "kubernetes", "--all")
    assert everything.exit_code == 0, everything.stderr
    assert_nothing_left(cluster, gitlab_runners)
    deletes = cluster.requests_of("DELETE", "jobs")
    assert deletes and all(
        (r.json() or {}).get("propagationPolicy", r.query.get("propagationPolicy", ["Orphan"])[0]) != "Orphan"
        for r in deletes), "deleting a Job without propagation leaves its pods running"


def test_no_token_reaches_any_object_but_the_registration_secret(gitlab_runners, cluster, run_cli):  # noqa: F811
    result = launch(run_cli, "--name", "quiet", "-v")
    listed = run_cli("runner", "list", "--cloud", "kubernetes", "--json")
    stopped = run_cli("runner", "stop", "--cloud", "kubernetes", "quiet", "-v")

    assert result.exit_code == 0 and stopped.exit_code == 0, result.stderr + stopped.stderr
    printed = result.stdout + result.stderr + listed.stdout + listed.stderr + stopped.stdout + stopped.stderr
    authentication = list(gitlab_runners.runner_store.authentication_tokens)
    assert authentication, "the runner registration created a glrt- token"
    assert len(cluster.accepted) >= 2
    for obj in cluster.accepted:
        sent = json.dumps(obj)
        for secret in (GITLAB_TOKEN, BEARER_TOKEN):
            assert secret not in sent, obj["kind"]
        if obj["kind"] != "Secret":
            for token in authentication:
                assert token not in sent, f"registration material in a {obj['kind']}"
    for secret in (GITLAB_TOKEN, BEARER_TOKEN, *authentication):
        assert secret not in printed
    assert_every_object_valid(cluster)


@pytest.mark.parametrize(("gpu", "reason"), [("2xa100", "3 node(s) didn't match Pod's node affinity/selector."),
                                             ("2", "3 Insufficient nvidia.com/gpu.")])
def test_unschedulable_gpu_fails_with_the_schedulers_message_and_leaves_nothing(gitlab_runners, cluster,  # noqa: F811
                                                                                 run_cli, gpu, reason):
    started = time.monotonic()
    result = launch(run_cli, "--name", "big", "--cloud-gpu", gpu, "--launch-timeout", "3")
    elapsed = time.monotonic() - started

    assert result.exit_code != 0
    message = f"0/3 nodes are available: {reason}"
    scheduler = [e["message"] for e in cluster.all("events", NAMESPACE) if e["reason"] == "FailedScheduling"]
    assert scheduler == [message]
    assert message in result.stderr, result.stderr
    assert elapsed < 20
    assert_nothing_left(cluster, gitlab_runners)
    assert_every_object_valid(cluster)
    job = next(o for o in cluster.accepted if o["kind"] == "Job")
    limits = job["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert str(limits["nvidia.com/gpu"]) == "2"


def test_a_gpu_node_runs_the_gpu_runner(gitlab_runners, cluster, run_cli):  # noqa: F811
    cluster.nodes.append(Node("gpu-1", cpu=32, memory=256 * 1024 ** 3, gpus=4,
                              labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}))
    cluster.runner = "settings"

    result = launch(run_cli, "--name", "big", "--cloud-gpu", "2xa100")

    assert result.exit_code == 0, result.stderr
    assert [pod["spec"]["nodeName"] for pod in cluster.all("pods", NAMESPACE)] == ["gpu-1"]
    assert run_cli("runner", "stop", "--cloud", "kubernetes", "--all").exit_code == 0
    assert_nothing_left(cluster, gitlab_runners)


#: Every kind of request a launch makes: list Jobs (access check), create the Job and its Secret, read the Job and
#: list its pods while waiting.
STEPS = [("GET", r"/jobs$"), ("POST", r"/jobs$"), ("POST", r"/secrets$"), ("GET", r"/jobs/[^/]+$"),
         ("GET", r"/pods$")]


@pytest.mark.parametrize("status", [500, 409, "reset"])
def test_a_failure_at_any_step_leaves_no_job_secret_or_registration(gitlab_runners, cluster, run_cli,  # noqa: F811
                                                                    status):
    """Each kind of request a launch makes fails once (an API error, or the connection reset unanswered)."""
    cluster.runner = "settings"  # the runner connects at once: this is about cml's requests, not the boot
    failed = []
    for method, pattern in STEPS:
        # Reading the Job and its pods happens only while the runner is not online yet: keep it offline a while.
        cluster.boot_delay = 1.5 if pattern in (r"/jobs/[^/]+$", r"/pods$") else 0.0
        if status == "reset":
            cluster.server.fail(method, pattern, reset=True)
        else:
            cluster.server.fail(method, pattern, status=status,
                                body={"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
                                      "reason": "InternalError" if status == 500 else "Conflict",
                                      "message": "injected by the test"})
        started = time.monotonic()
        result = launch(run_cli, "--name", "faulty", "--launch-timeout", "3")
        assert time.monotonic() - started < 10, result.stderr
        assert not [f for f in cluster.server.faults if f.times > 0], f"no {method} {pattern} request: {result}"
        if result.exit_code != 0:
            failed.append((method, pattern))
        if (status, method, pattern) == (409, "POST", r"/secrets$"):
            # Taken for a retried create: the pod waits for its Secret, and the error says so.
            assert "FailedMount" in result.stderr, result.stderr
        else:
            assert run_cli("runner", "stop", "--cloud", "kubernetes", "--all").exit_code == 0
        assert_nothing_left(cluster, gitlab_runners)
    assert ("POST", r"/secrets$") in failed or status == "reset", failed
    assert_every_object_valid(cluster)


@pytest.mark.parametrize(("method", "pattern", "nth"), [("POST", r"/secrets$", 2), ("GET", r"/pods$", 1)])
def test_a_failure_in_one_replica_removes_every_replica(gitlab_runners, cluster, run_cli, method,  # noqa: F811
                                                        pattern, nth):
    """The second replica's Secret, or the first look at a replica's pods, fails: all three are removed."""
    cluster.runner = "settings"
    cluster.boot_delay = 1.0
    cluster.fail_nth(method, pattern, nth)

    result = launch(run_cli, "--replicas", "3", "--name", "fleet", "--launch-timeout", "5")

    assert result.exit_code != 0
    assert "injected by the test" in result.stderr
    assert cluster.pending_faults == 0
    assert_nothing_left(cluster, gitlab_runners)


@pytest.mark.parametrize("kind", ["jobs", "secrets"])
def test_cleanup_retries_a_failed_delete(gitlab_runners, cluster, run_cli, kind):  # noqa: F811
    cluster.server.fail("DELETE", rf"/{kind}/[^/]+$", status=500, body={"kind": "Status", "code": 500})

    result = launch(run_cli, "--name", "big", "--cloud-gpu", "1xa100", "--launch-timeout", "1")

    assert result.exit_code != 0
    assert "could not remove" not in result.stderr, result.stderr
    assert not [f for f in cluster.server.faults if f.times > 0], "the cleanup never deleted"
    assert_nothing_left(cluster, gitlab_runners)


def test_the_cluster_enforces_the_maximum_runtime(gitlab_runners, cluster, run_cli):  # noqa: F811
    cluster.runner = "settings"
    result = launch(run_cli, "--name", "short", "--max-runtime", "60")
    assert result.exit_code == 0, result.stderr

    # 60 cluster seconds pass in 60 / SPEED wall seconds: the Job fails and its pod is gone.
    deadline = time.monotonic() + 60 / SPEED + 5
    while time.monotonic() < deadline and cluster.all("pods", NAMESPACE):
        time.sleep(0.05)
    assert cluster.all("pods", NAMESPACE) == []
    jobs = cluster.all("jobs", NAMESPACE)
    assert jobs == [] or any(c.get("reason") == "DeadlineExceeded" for c in jobs[0]["status"]["conditions"])
    assert run_cli("runner", "stop", "--cloud", "kubernetes", "--all").exit_code == 0


def test_the_fake_refuses_objects_the_real_api_server_refuses(cluster, tmp_path):  # noqa: F811
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(tmp_path / "kubeconfig"))
    api = client.BatchV1Api(api_client)
    template = client.V1PodTemplateSpec(spec=client.V1PodSpec(
        restart_policy="Never", containers=[client.V1Container(name="runner", image="ubuntu:24.04")]))
    bad_label = client.V1Job(metadata=client.V1ObjectMeta(name="r", labels={"cml/repository": "gitlab:ml/models"}),
                             spec=client.V1JobSpec(template=template))
    unknown_field = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "r"},
                     "spec": {"template": api_client.sanitize_for_serialization(template), "maxRuntime": 5}}

    for body in (bad_label, unknown_field):
        with pytest.raises(client.ApiException) as refused:
            api.create_namespaced_job(NAMESPACE, body)
        assert refused.value.status == 422
        answer = json.loads(refused.value.body)
        assert answer["kind"] == "Status" and answer["reason"] == "Invalid"
    assert cluster.all("jobs") == [] and len(cluster.rejected) == 2
    assert KUBERNETES_VERSION.startswith("1.")


def test_the_fake_cluster_schedules_enforces_deadlines_and_collects_garbage(cluster, tmp_path):  # noqa: F811
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(tmp_path / "kubeconfig"))
    batch, core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)

    def job(name: str, gpus: int, deadline: int) -> client.V1Job:
        container = client.V1Container(name="runner", image="ubuntu:24.04",
                                       resources=client.V1ResourceRequirements(limits={"nvidia.com/gpu": str(gpus)}))
        return client.V1Job(metadata=client.V1ObjectMeta(name=name), spec=client.V1JobSpec(
            backoff_limit=0, active_deadline_seconds=deadline, ttl_seconds_after_finished=20,
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(restart_policy="Never", containers=[container]))))

    waiting = batch.create_namespaced_job(NAMESPACE, job("waiting", 2, 3600))
    core.create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(
        name="waiting", owner_references=[client.V1OwnerReference(api_version="batch/v1", kind="Job", name="waiting",
                                                                  uid=waiting.metadata.uid)]),
        string_data={"startup.sh": "true"}))
    batch.create_namespaced_job(NAMESPACE, job("short", 0, 20))

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(cluster.all("pods", NAMESPACE)) < 2:
        time.sleep(0.05)
    pod = core.list_namespaced_pod(NAMESPACE, label_selector="job-name=waiting").items[0]
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert pod.status.phase == "Pending" and pod.status.conditions[0].reason == "Unschedulable"
    assert pod.status.conditions[0].message == message
    events = core.list_namespaced_event(NAMESPACE, field_selector=f"involvedObject.name={pod.metadata.name}").items
    assert [(e.reason, e.message) for e in events] == [("FailedScheduling", message)]

    # 20 cluster seconds later the short Job has failed; 20 more and its TTL has deleted it, with its pod.
    while time.monotonic() < deadline + 60 / SPEED and cluster.get("jobs", NAMESPACE, "short"):
        time.sleep(0.05)
    assert cluster.get("jobs", NAMESPACE, "short") is None
    assert [p["metadata"]["name"].rsplit("-", 1)[0] for p in cluster.all("pods", NAMESPACE)] == ["waiting"]

    batch.delete_namespaced_job("waiting", NAMESPACE, propagation_policy="Background")
    assert cluster.all("pods", NAMESPACE) == [] and cluster.all("secrets", NAMESPACE) == []
    assert cluster.request_counts()["POST jobs (collection)"] == 2
