"""The Kubernetes backend's mapping of cml's options onto Jobs, pods and Secrets: pure functions, no cluster."""

from __future__ import annotations

import base64

import pytest

from cml.errors import UsageError
from cml.runner.backends.base import DEADLINE_TAG, LABELS_TAG, REPOSITORY_TAG, RUNNER_TAG
from cml.runner.backends.kubernetes import (
    DEFAULT_IMAGE,
    GpuRequest,
    KubernetesBackend,
    KubernetesImage,
    RunnerPod,
    Toleration,
    job_manifest,
    job_name,
    label_safe,
    parse_gpu,
    parse_key_values,
    parse_tolerations,
    secret_manifest,
    tag_metadata,
)
from cml.runner.spec import Region
from cml.runner.startup import StartupSettings, render_script
from tests.fakes.machine import Machine

REGISTRATION_SECRET = "glrt-registration-secret"


@pytest.mark.parametrize("text, expected", [
    ("t4", GpuRequest(1, "t4")), ("2xa100", GpuRequest(2, "a100")), ("a100:2", GpuRequest(2, "a100")),
    ("nvidia-tesla-t4", GpuRequest(1, "t4")), ("2", GpuRequest(2)), ("gpu", GpuRequest(1)),
    ("nogpu", None), (None, None), ("", None)])
def test_gpu_names_counts_and_none(text, expected):
    assert parse_gpu(text) == expected


@pytest.mark.parametrize("text", ["t5", "2xa100:2", "0xt4", "x"])
def test_unknown_gpus_name_the_parameter(text):
    with pytest.raises(UsageError) as raised:
        parse_gpu(text)
    assert raised.value.parameter == "cloud_gpu"


def test_sizes_take_their_gpu_from_the_type_or_the_gpu_option():
    assert KubernetesBackend.machine_type(None, None) == "m"
    assert KubernetesBackend.machine_type("l", "t4") == "l+t4"
    assert KubernetesBackend.machine_type("xl+2xa100", None) == "xl+2xa100"
    assert KubernetesBackend.machine_type("m", "a100:4") == "m+4xa100"
    assert KubernetesBackend.machine_type("m", "3") == "m+3xgpu"
    with pytest.raises(UsageError) as raised:
        KubernetesBackend.machine_type("g4dn.xlarge", None)
    assert raised.value.parameter == "cloud_type"


def test_node_selectors_and_tolerations():
    assert parse_key_values("nvidia.com/gpu.present=true, pool=gpu", "cloud_kubernetes_node_selector") == {
        "nvidia.com/gpu.present": "true", "pool": "gpu"}
    assert parse_tolerations("gpu,dedicated=ml:NoSchedule,spot:NoExecute") == (
        Toleration("gpu"), Toleration("dedicated", "ml", "NoSchedule"), Toleration("spot", None, "NoExecute"))
    assert Toleration("gpu").manifest() == {"key": "gpu", "operator": "Exists"}
    assert Toleration("dedicated", "ml", "NoSchedule").manifest() == {
        "key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
    for call, parameter in ((lambda: parse_key_values("pool", "cloud_kubernetes_node_selector"),
                             "cloud_kubernetes_node_selector"),
                            (lambda: parse_tolerations("a=b:Sometimes"), "cloud_kubernetes_toleration")):
        with pytest.raises(UsageError) as raised:
            call()
        assert raised.value.parameter == parameter


def test_region_is_the_namespace(tmp_path):
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\ncurrent-context: lab\ncontexts:\n"
                      "- name: lab\n  context: {cluster: lab, user: me, namespace: ml-runners}\n")
    environ = {"KUBECONFIG": str(config)}
    assert KubernetesBackend.resolve_region(None, environ) == Region("ml-runners", f"context lab in {config}")
    assert KubernetesBackend.resolve_region("ci", environ) == Region("ci", "cloud_region")
    assert KubernetesBackend.resolve_region(None, {"KUBECONFIG": str(tmp_path / "none")}) == Region(
        "default", "default default")
    with pytest.raises(UsageError) as raised:
        KubernetesBackend.resolve_region("Not_A_Namespace", environ)
    assert raised.value.parameter == "cloud_region"


def test_images_and_labels():
    assert KubernetesBackend.parse_image(None) == KubernetesImage()
    assert KubernetesBackend.parse_image("ghcr.io/me/runner:1.2") == KubernetesImage(reference="ghcr.io/me/runner:1.2")
    assert KubernetesBackend.parse_tags(["team=ml", "example.com/cost-center=42"]) == {
        "team": "ml", "example.com/cost-center": "42"}
    for bad in (["cml/runner=x"], ["team=has space"], ["=x"]):
        with pytest.raises(UsageError) as raised:
            KubernetesBackend.parse_tags(bad)
        assert raised.value.parameter == "cloud_metadata"
    assert label_safe("gitlab:ml/models") == "gitlab.ml.models"
    assert label_safe("-x-" + "a" * 80) == "x-" + "a" * 61
    assert job_name("Trainer_1.GPU", "0123456789abcdef") == "trainer-1-gpu-01234567"


def runner_pod(**changes) -> RunnerPod:
    tags = {RUNNER_TAG: "trainer-1", REPOSITORY_TAG: "gitlab:ml/models", LABELS_TAG: "cml,gpu",
            DEADLINE_TAG: "2026-12-01T06:00:00Z", "team": "ml"}
    labels, annotations = tag_metadata(tags)
    values = dict(job_name="trainer-1-abcdef12", namespace="ci", image=DEFAULT_IMAGE, cpu="8", memory="32Gi",
                  gpu=GpuRequest(2, "a100"), disk_gb=50, node_selector={"pool": "gpu"},
                  tolerations=(Toleration("dedicated", "ml", "NoSchedule"),), max_runtime=7200, labels=labels,
                  annotations=annotations)
    values.update(changes)
    return RunnerPod(**values)


def test_the_job_runs_one_pod_once_until_the_deadline_as_a_non_root_user():
    job = job_manifest(runner_pod())
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 7200, 300)
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "cml" and labels["cml/runner"] == "trainer-1"
    assert labels["team"] == "ml" and spec["template"]["metadata"]["labels"]["cml/job"] == "trainer-1-abcdef12"
    assert job["metadata"]["annotations"]["cml/repository"] == "gitlab:ml/models"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1001
    container = pod["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "50Gi"},
        "limits": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "50Gi", "nvidia.com/gpu": "2"}}
    assert container["command"][-1].endswith("exec /bin/bash /etc/cml-runner/startup.sh")
    assert {"name": "startup", "mountPath": "/etc/cml-runner", "readOnly": True} in container["volumeMounts"]
    assert {"name": "startup", "secret": {"secretName": "trainer-1-abcdef12", "defaultMode": 0o440}} in pod["volumes"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert "NVIDIA-A100-SXM4-40GB" in terms[0]["matchExpressions"][0]["values"]
    assert terms[1]["matchExpressions"][0]["key"] == "cloud.google.com/gke-accelerator"


def test_a_plain_job_has_no_gpu_deadline_or_service_account_unless_asked():
    pod = job_manifest(runner_pod(gpu=None, disk_gb=0, node_selector={}, tolerations=(), max_runtime=0))
    spec = pod["spec"]["template"]["spec"]
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert not {"affinity", "tolerations", "nodeSelector", "serviceAccountName"} & set(spec)
    assert spec["containers"][0]["resources"]["limits"] == {"cpu": "8", "memory": "32Gi"}
    with_account = job_manifest(runner_pod(service_account="runner"))["spec"]["template"]["spec"]
    assert with_account["serviceAccountName"] == "runner" and with_account["automountServiceAccountToken"] is True


def test_the_registration_material_is_only_in_the_secret_owned_by_the_job():
    settings = StartupSettings(forge="gitlab", name="trainer-1", labels=("cml",), url="https://gitlab.test",
                               registration={"CML_GITLAB_RUNNER_TOKEN": REGISTRATION_SECRET},
                               hooks=KubernetesBackend.machine_hooks)
    script = render_script(settings).encode()
    pod = runner_pod()
    job = job_manifest(pod)
    secret = secret_manifest(pod.job_name, "ci", "uid-1", script, pod.labels)
    assert REGISTRATION_SECRET not in repr(job)
    assert REGISTRATION_SECRET not in repr(secret["metadata"])
    assert base64.b64decode(secret["data"]["startup.sh"]) == script
    assert secret["metadata"]["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "Job",
                                                      "name": pod.job_name, "uid": "uid-1",
                                                      "blockOwnerDeletion": False}]
    assert "CML_POWER_OFF_COMMAND=:" in script.decode() and "CML_SAFETY_NET_COMMAND=:" in script.decode()


def test_a_pod_ends_by_exiting_after_unregistering_its_runner():
    """The backend's hooks in the real startup script: no shutdown at all, the runner stopped and deleted."""
    machine = Machine(poll_seconds=0.2, stop_grace_seconds=2)
    try:
        machine.boot(machine.settings_for("gitlab", {"CML_GITLAB_RUNNER_TOKEN": REGISTRATION_SECRET}, idle_timeout=2,
                                          max_runtime=90, hooks=KubernetesBackend.machine_hooks))
        machine.wait_for("gitlab-runner start")
        assert machine.wait_exit(timeout=40) == 0, machine.report()
        assert machine.internet.deleted_runner_tokens == [REGISTRATION_SECRET]
        assert not machine.find("shutdown") and not machine.find("poweroff"), machine.report()
        machine.assert_order("gitlab-runner signal QUIT", "server DELETE /api/v4/runners")
        assert "shutting down: idle for 2s" in machine.log and "powering off" in machine.log
    finally:
        machine.close()
