"""Kubernetes, through the official ``kubernetes`` client: one batch/v1 Job per runner, in one namespace.

The cluster is reached as kubectl reaches it: ``KUBECONFIG`` (else ``~/.kube/config``) and its
current context (``--cloud-kubernetes-context`` picks another), else the pod's own service
account when cml runs inside the cluster. The "region" is the namespace.

Each runner is a Job (``backoffLimit: 0``, ``activeDeadlineSeconds`` from the maximum runtime,
``ttlSecondsAfterFinished``) whose pod runs the startup script from a Secret mounted read-only;
the Secret holds the whole rendered script, registration material included, and is owned by the
Job, so deleting the Job deletes it. Pod and Job carry the labels ``list`` and ``stop`` search by.
The manifests are built by pure functions (:func:`job_manifest`, :func:`secret_manifest`).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable

from cml.errors import CmlError, UsageError
from cml.runner.backends.base import (
    DEADLINE_TAG,
    LABELS_TAG,
    REGION_PARAMETER,
    REPOSITORY_TAG,
    RUNNER_TAG,
    CloudBackend,
    CloudError,
    CloudOption,
    Machine,
    MachineState,
    PreparedMachine,
)
from cml.runner.spec import MachineImage, MachineSpec, Region
from cml.runner.startup import MachineHooks

INSTALL_HINT = "pip install 'cml-ci[kubernetes]'"
#: The project's CUDA image (docker/Dockerfile.cuda): no published name is documented, so the GitHub Container
#: Registry name a release would publish it under.
DEFAULT_IMAGE = "ghcr.io/cml-ci/cml:cuda"
#: The image's non-root user (docker/Dockerfile.cuda's ``useradd --uid 1001``).
RUNNER_UID = 1001
DEFAULT_NAMESPACE = "default"
#: The most bytes a Secret holds is 1 MiB; leave room for its metadata.
SECRET_LIMIT = 1_000_000
#: Finished Jobs (and their pods) are deleted by the cluster this long after they end.
FINISHED_TTL_SECONDS = 300
#: The startup script stops the runner gracefully (up to 60 s) and unregisters it on SIGTERM.
TERMINATION_GRACE_SECONDS = 90
REQUEST_TIMEOUT_SECONDS = 30

SCRIPT_DIRECTORY = "/etc/cml-runner"
SCRIPT_KEY = "startup.sh"
RUNNER_HOME = "/opt/cml-runner"
CONTAINER_COMMAND = ["/bin/bash", "-c",
                     f"mkdir -p {RUNNER_HOME} && touch {RUNNER_HOME}/cml-runner.log && "
                     f"{{ tail -n +1 -F {RUNNER_HOME}/cml-runner.log & }} && "
                     f"exec /bin/bash {SCRIPT_DIRECTORY}/{SCRIPT_KEY}"]

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "cml"
COMPONENT_LABEL = "app.kubernetes.io/component"
RUNNER_LABEL = "cml/runner"
JOB_LABEL = "cml/job"
INSTANCE_TYPE_ANNOTATION = "cml/instance-type"
#: cml's machine tags as annotations (full values; labels hold label-safe copies for searching).
TAG_ANNOTATIONS = {RUNNER_TAG: "cml/runner", REPOSITORY_TAG: "cml/repository", LABELS_TAG: "cml/labels",
                   DEADLINE_TAG: "cml/max-runtime-ends"}

GPU_RESOURCE = "nvidia.com/gpu"
#: NVIDIA GPU feature discovery's node label, and GKE's.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GKE_ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
#: A GPU model → the values of :data:`GPU_PRODUCT_LABEL` and :data:`GKE_ACCELERATOR_LABEL` that name it.
GPU_PRODUCTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "k80": (("Tesla-K80",), ("nvidia-tesla-k80",)),
    "v100": (("Tesla-V100-SXM2-16GB", "Tesla-V100-SXM2-32GB", "Tesla-V100-PCIE-16GB", "Tesla-V100-PCIE-32GB"),
             ("nvidia-tesla-v100",)),
    "t4": (("Tesla-T4",), ("nvidia-tesla-t4",)),
    "a10g": (("NVIDIA-A10G",), ()),
    "l4": (("NVIDIA-L4",), ("nvidia-l4",)),
    "l40s": (("NVIDIA-L40S",), ()),
    "a100": (("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB", "NVIDIA-A100-80GB-PCIe"),
             ("nvidia-tesla-a100", "nvidia-a100-80gb")),
    "h100": (("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"), ("nvidia-h100-80gb",)),
}
GPU_ALIASES: dict[str, str | None] = {
    "tesla": "v100", "nvidia-tesla-k80": "k80", "nvidia-tesla-v100": "v100", "nvidia-tesla-t4": "t4",
    "nvidia-tesla-a100": "a100", "nvidia-l4": "l4", "nvidia-a10g": "a10g", "nvidia-h100": "h100",
    "nogpu": None, "none": None}
#: The model name meaning "any GPU".
ANY_GPU = "gpu"
GPU_PATTERN = re.compile(r"^(?:(?P<count>\d+)x)?(?P<model>[a-z0-9-]+?)(?::(?P<suffix>\d+))?$")
#: ``cloud_type`` size → CPUs and memory (requests and limits): the CPUs and memory of EC2's sizes.
SIZES = {"m": ("8", "32Gi"), "l": ("32", "128Gi"), "xl": ("64", "256Gi")}
DEFAULT_SIZE = "m"
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
IMAGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")


@dataclass(frozen=True)
class GpuRequest:
    """``count`` GPUs (the ``nvidia.com/gpu`` resource), of ``model`` (a key of :data:`GPU_PRODUCTS`) or any."""

    count: int
    model: str | None = None

    def __str__(self) -> str:
        model = self.model or ANY_GPU
        return model if self.count == 1 else f"{self.count}x{model}"


@dataclass(frozen=True)
class KubernetesImage(MachineImage):
    """A container image reference; ``None`` for the default image."""

    reference: str | None = None


@dataclass(frozen=True)
class Toleration:
    """A pod toleration: ``key`` with ``value`` (``Equal``) or any value (``Exists``), for ``effect`` or all."""

    key: str
    value: str | None = None
    effect: str | None = None

    def manifest(self) -> dict[str, str]:
        """As the pod spec writes it."""
        found: dict[str, str] = {"key": self.key, "operator": "Equal" if self.value is not None else "Exists"}
        if self.value is not None:
            found["value"] = self.value
        if self.effect:
            found["effect"] = self.effect
        return found


@dataclass(frozen=True)
class RunnerPod:
    """Everything the runner's Job and pod say, from the launch's options."""

    job_name: str
    namespace: str
    image: str
    cpu: str
    memory: str
    gpu: GpuRequest | None = None
    disk_gb: int = 0
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    service_account: str | None = None
    max_runtime: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def parse_gpu(cloud_gpu: str | None, parameter: str = "cloud_gpu") -> GpuRequest | None:
    """``t4``, ``2xa100``, ``a100:2``, ``2`` (two of any model), ``gpu``, or ``nogpu``/``None`` for none."""
    if cloud_gpu is None or not cloud_gpu.strip():
        return None
    text = cloud_gpu.strip().lower()
    if text.isdigit():
        text = f"{text}x{ANY_GPU}"
    found = GPU_PATTERN.fullmatch(text)
    model = found.group("model") if found else ""
    resolved = GPU_ALIASES.get(model, model)
    if found is None or (resolved is not None and resolved not in GPU_PRODUCTS and resolved != ANY_GPU) or (
            found.group("count") and found.group("suffix")):
        known = ", ".join(GPU_PRODUCTS)
        raise UsageError(f"'{cloud_gpu}' is not a GPU: use a model ({known}), optionally with a count (2xa100 or "
                         f"a100:2), a count alone for any model, or nogpu", parameter=parameter)
    if resolved is None:
        return None
    count = int(found.group("count") or found.group("suffix") or 1)
    if count < 1:
        raise UsageError(f"'{cloud_gpu}' asks for no GPU; use nogpu", parameter=parameter)
    return GpuRequest(count, None if resolved == ANY_GPU else resolved)


def parse_machine_type(instance_type: str, parameter: str = "cloud_type") -> tuple[str, GpuRequest | None]:
    """A size and its GPUs from ``m``, ``l+t4`` or ``xl+2xa100``."""
    size, _, gpu = instance_type.strip().lower().partition("+")
    if size not in SIZES:
        raise UsageError(f"'{instance_type}' is not a size: use {', '.join(SIZES)}, optionally +GPU (m+t4, "
                         f"m+2xa100)", parameter=parameter)
    return size, parse_gpu(gpu, parameter) if gpu else None


def parse_key_values(text: str | None, parameter: str) -> dict[str, str]:
    """``key=value,key=value`` as node labels (label names and values Kubernetes accepts)."""
    found: dict[str, str] = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        key, equals, value = item.partition("=")
        if not equals or not valid_label_key(key.strip()) or not LABEL_VALUE.fullmatch(value.strip()):
            raise UsageError(f"'{item}' is not a node label: use key=value (like nvidia.com/gpu.present=true)",
                             parameter=parameter)
        found[key.strip()] = value.strip()
    return found


def parse_tolerations(text: str | None, parameter: str = "cloud_kubernetes_toleration") -> tuple[Toleration, ...]:
    """``key[=value][:effect]`` items, comma-separated: an absent value tolerates any, an absent effect all."""
    tolerations = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        rest, _, effect = item.rpartition(":") if ":" in item else (item, "", "")
        key, equals, value = rest.partition("=")
        if not valid_label_key(key) or (effect and effect not in TOLERATION_EFFECTS) or (
                equals and not LABEL_VALUE.fullmatch(value)):
            raise UsageError(f"'{item}' is not a toleration: use key[=value][:effect], effect one of "
                             f"{', '.join(TOLERATION_EFFECTS)}", parameter=parameter)
        tolerations.append(Toleration(key, value if equals else None, effect or None))
    return tuple(tolerations)


def valid_label_key(key: str) -> bool:
    """A label key Kubernetes accepts: ``[prefix/]name``, the prefix a DNS subdomain."""
    prefix, slash, name = key.rpartition("/")
    return bool(LABEL_NAME.fullmatch(name)) and (not slash or bool(DNS_SUBDOMAIN.fullmatch(prefix)))


def label_safe(value: str) -> str:
    """``value`` as a label value: allowed characters only, at most 63, starting and ending with a letter or digit."""
    cleaned = re.sub(r"^[^A-Za-z0-9]+", "", re.sub(r"[^A-Za-z0-9._-]+", ".", value))[:63]
    return re.sub(r"[^A-Za-z0-9]+$", "", cleaned)


def job_name(runner_name: str, token: str) -> str:
    """A DNS label from the runner name and the start's token, so a retried start finds its own Job."""
    stem = re.sub(r"[^a-z0-9-]+", "-", runner_name.lower()).strip("-")[:48].rstrip("-") or "runner"
    suffix = re.sub(r"[^a-z0-9]", "", token.lower())[:8] or "0"
    return f"{stem}-{suffix}"


def resources(pod: RunnerPod) -> dict[str, dict[str, str]]:
    """Requests and limits: CPU and memory of the size, the GPUs, the ephemeral storage for the work folder."""
    amounts = {"cpu": pod.cpu, "memory": pod.memory}
    if pod.disk_gb:
        amounts["ephemeral-storage"] = f"{pod.disk_gb}Gi"
    limits = dict(amounts)
    if pod.gpu is not None:
        limits[GPU_RESOURCE] = str(pod.gpu.count)
    return {"requests": amounts, "limits": limits}


def gpu_affinity(gpu: GpuRequest | None) -> dict[str, Any]:
    """For a GPU model, a required node affinity: nodes labelled with the model by NVIDIA's GPU feature
    discovery, or by GKE (either will do)."""
    if gpu is None or gpu.model is None:
        return {}
    products, accelerators = GPU_PRODUCTS[gpu.model]
    terms = [{"matchExpressions": [{"key": GPU_PRODUCT_LABEL, "operator": "In", "values": list(products)}]}]
    if accelerators:
        terms.append({"matchExpressions": [{"key": GKE_ACCELERATOR_LABEL, "operator": "In",
                                            "values": list(accelerators)}]})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def job_manifest(pod: RunnerPod) -> dict[str, Any]:
    """The batch/v1 Job of one runner: one pod, never restarted or retried, ended by the cluster at the maximum
    runtime (the pod gets SIGTERM: its script unregisters the runner) and deleted a while after it ends. The pod runs the startup script from
    the Secret of the Job's own name, as the image's non-root user, with no service account token unless a
    service account is named."""
    labels = {**pod.labels, JOB_LABEL: pod.job_name}
    tolerations = [t.manifest() for t in pod.tolerations]
    if pod.gpu is not None and not any(t.key == GPU_RESOURCE for t in pod.tolerations):
        # GPU node pools are commonly tainted nvidia.com/gpu (GKE, EKS's guides).
        tolerations.append(Toleration(GPU_RESOURCE, effect="NoSchedule").manifest())
    home_volume: dict[str, Any] = {"name": "home", "emptyDir": {}}
    if pod.disk_gb:
        home_volume["emptyDir"]["sizeLimit"] = f"{pod.disk_gb}Gi"
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "automountServiceAccountToken": pod.service_account is not None,
        "enableServiceLinks": False,
        # GitHub's runner refuses root (without RUNNER_ALLOW_RUNASROOT); the image's own user needs no root.
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUNNER_UID, "runAsGroup": RUNNER_UID,
                            "fsGroup": RUNNER_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "runner", "image": pod.image, "command": list(CONTAINER_COMMAND),
            "env": [{"name": "CML_RUNNER_HOME", "value": RUNNER_HOME}],
            "resources": resources(pod),
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "startup", "mountPath": SCRIPT_DIRECTORY, "readOnly": True},
                             {"name": "home", "mountPath": RUNNER_HOME}],
        }],
        "volumes": [{"name": "startup", "secret": {"secretName": pod.job_name, "defaultMode": 0o440}},
                    home_volume],
    }
    if pod.service_account is not None:
        pod_spec["serviceAccountName"] = pod.service_account
    if pod.node_selector:
        pod_spec["nodeSelector"] = dict(pod.node_selector)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    affinity = gpu_affinity(pod.gpu)
    if affinity:
        pod_spec["affinity"] = affinity
    job_spec: dict[str, Any] = {
        "backoffLimit": 0, "ttlSecondsAfterFinished": FINISHED_TTL_SECONDS,
        "template": {"metadata": {"labels": labels, "annotations": dict(pod.annotations)}, "spec": pod_spec},
    }
    if pod.max_runtime:
        job_spec["activeDeadlineSeconds"] = pod.max_runtime
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": pod.job_name, "namespace": pod.namespace, "labels": labels,
                         "annotations": dict(pod.annotations)},
            "spec": job_spec}


def secret_manifest(job: str, namespace: str, job_uid: str, script: bytes, labels: Mapping[str, str]) -> dict[str, Any]:
    """The Secret holding the startup script (registration material included), owned by the Job ``job`` (uid
    ``job_uid``) so that the cluster deletes it with the Job."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": job, "namespace": namespace, "labels": {**labels, JOB_LABEL: job},
                         "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": job_uid,
                                              "blockOwnerDeletion": False}]},
            "data": {SCRIPT_KEY: base64.b64encode(script).decode()}}


def tag_metadata(tags: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """cml's tags as (labels, annotations): cml's own as annotations (full) and label-safe labels, the user's
    ``--cloud-metadata`` as labels."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: "runner"}
    annotations = {}
    for key, value in tags.items():
        if key in TAG_ANNOTATIONS:
            annotations[TAG_ANNOTATIONS[key]] = value
        else:
            labels[key] = value
    labels[RUNNER_LABEL] = label_safe(tags.get(RUNNER_TAG, ""))
    return labels, annotations


def _kubeconfig_paths(environ: Mapping[str, str]) -> list[str]:
    home = environ.get("HOME") or os.path.expanduser("~")
    listed = environ.get("KUBECONFIG") or os.path.join(home, ".kube", "config")
    return [path.replace("~", home, 1) if path.startswith("~") else path for path in listed.split(os.pathsep) if path]


def configured_namespace(environ: Mapping[str, str], context: str | None = None) -> tuple[str, str] | None:
    """The namespace kubectl would use, and where it came from: the (current) context's in the kubeconfig files,
    else the pod's own when running in a cluster; ``None`` when neither says."""
    import yaml

    documents = []
    for path in _kubeconfig_paths(environ):
        try:
            with open(path, encoding="utf-8") as file:
                documents.append((path, yaml.safe_load(file) or {}))
        except (OSError, yaml.YAMLError):
            continue
    wanted = context or next((d.get("current-context") for _, d in documents if d.get("current-context")), None)
    for path, document in documents:
        for entry in document.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == wanted and wanted:
                namespace = (entry.get("context") or {}).get("namespace")
                if namespace:
                    return str(namespace), f"context {wanted} in {path}"
    if documents:
        return None
    in_cluster = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    if environ.get("KUBERNETES_SERVICE_HOST") and os.path.exists(in_cluster):
        with open(in_cluster, encoding="utf-8") as file:
            return file.read().strip(), "the pod's service account"
    return None


def check_namespace(namespace: str, source: str, parameter: str | None) -> str:
    """``namespace`` when it is a namespace name (a DNS label)."""
    value = namespace.strip()
    if not DNS_LABEL.fullmatch(value):
        message = f"'{namespace}' is not a Kubernetes namespace (lowercase letters, digits and '-')"
        if parameter is not None:
            raise UsageError(message, parameter=parameter)
        raise UsageError(f"{message} (from {source})")
    return value


class KubernetesBackend(CloudBackend):
    """Jobs in one namespace. Calls ``create``/``read``/``list``/``delete`` on batch/v1 ``jobs``, ``create`` and
    ``delete`` on v1 ``secrets``, ``list`` on v1 ``pods`` and ``events``."""

    name = "kubernetes"
    title = "Kubernetes"
    service = "Kubernetes"
    user_data_limit = SECRET_LIMIT
    options = (
        CloudOption("cloud_kubernetes_namespace", "NAMESPACE",
                    "Namespace of the runner's Job  [default: --cloud-region, else the context's namespace, "
                    "else default]"),
        CloudOption("cloud_kubernetes_context", "CONTEXT",
                    "kubeconfig context  [default: the current one; in a pod without kubeconfig, the cluster "
                    "itself]"),
        CloudOption("cloud_kubernetes_node_selector", "KEY=VALUE,…", "Node labels the pod must run on."),
        CloudOption("cloud_kubernetes_toleration", "KEY[=VALUE][:EFFECT],…",
                    "Node taints the pod tolerates (GPU requests tolerate nvidia.com/gpu already)."),
        CloudOption("cloud_kubernetes_image", "IMAGE", f"Container image (as --cloud-image)  [default: "
                                                       f"{DEFAULT_IMAGE}]"),
    )
    option_help = {
        "cloud_region": "Namespace (list and stop search it)  [default: the kubeconfig context's namespace, the "
                        "pod's own in a cluster, else default]",
        "cloud_type": "Size m, l, xl: 8, 32, 64 CPUs and 32, 128, 256 GiB requested and limited, optionally +GPU "
                      "(m+t4, m+2xa100)  [default: m]",
        "cloud_gpu": "nvidia.com/gpu count and model: t4, 2xa100, a100:2, a count alone for any model, or nogpu; "
                     "a model selects nodes labelled nvidia.com/gpu.product or cloud.google.com/gke-accelerator.",
        "cloud_hdd_size": "Ephemeral storage requested for the runner's work folder  [default: none requested]",
        "cloud_image": f"Container image with bash, curl and tar  [default: {DEFAULT_IMAGE}]",
        "cloud_permission_set": "Service account of the pod  [default: none, and no API token in the pod]",
    }
    # A pod ends by exiting; the Job's activeDeadlineSeconds is the safety net; a node drain sends SIGTERM.
    machine_hooks = MachineHooks(power_off=":", safety_net=":", spot_notice="false")

    def __init__(self, region: str, environ: Mapping[str, str], warn: Callable[[str], None]):
        try:
            import kubernetes  # noqa: F401
        except ImportError:
            raise CmlError(f"the Kubernetes backend needs the kubernetes package: {INSTALL_HINT}") from None
        self.namespace = region
        self.environ = environ
        self.warn = warn
        self.context: str | None = None
        self._api_client: Any = None

    @classmethod
    def resolve_region(cls, cloud_region: str | None, environ: Mapping[str, str],
                       requested_from: str = REGION_PARAMETER, parameter: str | None = REGION_PARAMETER) -> Region:
        """The namespace: ``cloud_region`` when given, else the kubeconfig context's, else the pod's own, else
        ``default``."""
        if cloud_region is not None and cloud_region.strip():
            return Region(check_namespace(cloud_region, requested_from, parameter), requested_from)
        found = configured_namespace(environ)
        if found is not None:
            return Region(check_namespace(found[0], found[1], None), found[1])
        return Region(DEFAULT_NAMESPACE, f"default {DEFAULT_NAMESPACE}")

    @classmethod
    def machine_type(cls, cloud_type: str | None, cloud_gpu: str | None) -> str:
        """``m``, ``l+t4``, ``xl+2xa100``: the size, and the GPUs of ``cloud_type``'s ``+GPU`` or ``cloud_gpu``."""
        size, gpu = parse_machine_type(cloud_type or DEFAULT_SIZE)
        if gpu is None:
            gpu = parse_gpu(cloud_gpu)
        return f"{size}+{gpu}" if gpu else size

    @classmethod
    def parse_image(cls, cloud_image: str | None) -> KubernetesImage:
        """A container image reference (``registry/name:tag`` or ``…@sha256:…``)."""
        if not cloud_image or not cloud_image.strip():
            return KubernetesImage()
        text = cloud_image.strip()
        if not IMAGE_PATTERN.fullmatch(text):
            raise UsageError(f"'{cloud_image}' is not a container image reference", parameter="cloud_image")
        return KubernetesImage(reference=text)

    @classmethod
    def parse_tags(cls, cloud_metadata: Sequence[str]) -> dict[str, str]:
        """Labels for the Job and its pod: ``key=value`` with Kubernetes label keys and values."""
        tags = {}
        for item in cloud_metadata:
            key, _, value = item.partition("=")
            key = key.strip()
            if not valid_label_key(key) or not LABEL_VALUE.fullmatch(value) or key.startswith("cml/") or (
                    key == MANAGED_BY_LABEL):
                raise UsageError(f"'{item}' is not a label: use key=value, keys [prefix/]name and values up to 63 "
                                 f"letters, digits, '.', '_' and '-'", parameter="cloud_metadata")
            tags[key] = value
        return tags

    def pack_startup_script(self, script: str) -> bytes:
        """``script`` as it is (bash reads it from the Secret, uncompressed); a UsageError naming
        ``cloud_startup_script`` when it does not fit in a Secret."""
        data = script.encode()
        if len(data) > self.user_data_limit:
            raise UsageError(f"the startup script is {len(data):,} bytes, over a Secret's {self.user_data_limit:,}; "
                             f"shorten it or have it download the rest", parameter="cloud_startup_script")
        return data

    def console_hint(self, machine_id: str) -> str:
        """The kubectl command that prints the runner pod's log."""
        context = f" --context {self.context}" if self.context else ""
        return f"kubectl logs job/{machine_id} --namespace {self.namespace}{context}"

    def _client(self) -> Any:
        if self._api_client is not None:
            return self._api_client
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        configuration = client.Configuration()
        paths = [path for path in _kubeconfig_paths(self.environ) if os.path.exists(path)]
        try:
            if paths or self.context or not self.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_kube_config(config_file=os.pathsep.join(paths) or None, context=self.context,
                                        client_configuration=configuration, persist_config=False)
            else:
                config.load_incluster_config(client_configuration=configuration)
        except (ConfigException, OSError, TypeError, ValueError) as error:
            raise CloudError(f"Kubernetes: no cluster to reach ({error}); set KUBECONFIG or run in a pod") from None
        self._api_client = client.ApiClient(configuration)
        return self._api_client

    def _call(self, action: str, operation: Callable[[Any, Any], Any], absent: bool = False) -> Any:
        """``operation(batch_api, core_api)``; ``None`` for a 404 when ``absent``, a :class:`CloudError` for any
        other failure."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api = self._client()
        try:
            return operation(client.BatchV1Api(api), client.CoreV1Api(api))
        except ApiException as error:
            if absent and error.status == 404:
                return None
            raise CloudError(f"Kubernetes namespace {self.namespace}: {action} failed: {_describe(error)}") from None
        except HTTPError as error:
            raise CloudError(f"Kubernetes namespace {self.namespace}: {action} failed: {error}") from None

    def prepare(self, spec: MachineSpec) -> PreparedMachine:
        """Checks the options and reads the namespace (``read_namespace`` is not needed: listing Jobs there
        proves access), building the pod description; nothing is created."""
        options = spec.cloud_options
        if spec.spot:
            raise UsageError("Kubernetes runs the pod on the nodes it has: pick spot nodes with "
                             "--cloud-kubernetes-node-selector and --cloud-kubernetes-toleration instead",
                             parameter="cloud_spot")
        self.context = options.get("cloud_kubernetes_context") or None
        self._api_client = None
        namespace = options.get("cloud_kubernetes_namespace")
        if namespace:
            self.namespace = check_namespace(namespace, "cloud_kubernetes_namespace", "cloud_kubernetes_namespace")
        image = spec.image.reference if isinstance(spec.image, KubernetesImage) else None
        own_image = options.get("cloud_kubernetes_image")
        if own_image and image and own_image.strip() != image:
            raise UsageError("two different images: give --cloud-image or --cloud-kubernetes-image",
                             parameter="cloud_kubernetes_image")
        if own_image:
            image = self.parse_image(own_image).reference
        size, gpu = parse_machine_type(spec.instance_type)
        cpu, memory = SIZES[size]
        pod = RunnerPod(
            job_name="", namespace=self.namespace, image=image or DEFAULT_IMAGE, cpu=cpu, memory=memory, gpu=gpu,
            disk_gb=spec.disk_gb or 0,
            node_selector=parse_key_values(options.get("cloud_kubernetes_node_selector"),
                                           "cloud_kubernetes_node_selector"),
            tolerations=parse_tolerations(options.get("cloud_kubernetes_toleration")),
            service_account=spec.permission_set or None, max_runtime=spec.max_runtime)
        self._call("listing Jobs", lambda batch, core: batch.list_namespaced_job(
            self.namespace, limit=1, _request_timeout=REQUEST_TIMEOUT_SECONDS))
        return PreparedMachine(spec, pod.image, pod.disk_gb, details={"pod": pod})

    def start(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str) -> Machine:
        """``create`` the Job, then its Secret owned by it (the pod waits for the Secret to mount); a retried
        start (same ``token``) finds the Job it created."""
        template: RunnerPod = prepared.details["pod"]
        labels, annotations = tag_metadata(tags)
        annotations[INSTANCE_TYPE_ANNOTATION] = prepared.spec.instance_type
        name = job_name(tags.get(RUNNER_TAG, ""), token)
        pod = replace(template, job_name=name, namespace=self.namespace, labels=labels, annotations=annotations)
        job = self._create_job(job_manifest(pod))
        secret = secret_manifest(name, self.namespace, job.metadata.uid, user_data, labels)
        try:
            self._call(f"creating Secret {name}", lambda batch, core: _create_or_keep(
                lambda: core.create_namespaced_secret(self.namespace, secret, _request_timeout=REQUEST_TIMEOUT_SECONDS)))
        except CloudError:
            self._delete(name)
            raise
        return self._machine(job, [])

    def _create_job(self, manifest: dict[str, Any]) -> Any:
        name = manifest["metadata"]["name"]
        created = self._call(f"creating Job {name}", lambda batch, core: _create_or_keep(
            lambda: batch.create_namespaced_job(self.namespace, manifest, _request_timeout=REQUEST_TIMEOUT_SECONDS)))
        if created is not None:
            return created
        return self._call(f"reading Job {name}", lambda batch, core: batch.read_namespaced_job(
            name, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS))

    def describe(self, machine_id: str) -> Machine | None:
        """``read`` the Job, ``list`` its pods (by the ``cml/job`` label) and, while one waits, its ``events``."""
        job = self._call(f"reading Job {machine_id}", lambda batch, core: batch.read_namespaced_job(
            machine_id, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS), absent=True)
        if job is None:
            return None
        pods = self._call(f"listing the pods of Job {machine_id}", lambda batch, core: core.list_namespaced_pod(
            self.namespace, label_selector=f"{JOB_LABEL}={machine_id}", _request_timeout=REQUEST_TIMEOUT_SECONDS)).items
        machine = self._machine(job, pods)
        if machine.state == MachineState.PENDING and not machine.state_reason:
            reason = self._warning(machine_id, pods)
            if reason:
                machine = replace(machine, state_reason=reason)
        return machine

    def _warning(self, job: str, pods: list[Any]) -> str:
        """The latest Warning event of the Job or its pods (a failed mount, a quota refusal…)."""
        names = {job, *(p.metadata.name for p in pods)}
        events = self._call(f"listing the events of Job {job}", lambda batch, core: core.list_namespaced_event(
            self.namespace, field_selector="type=Warning", _request_timeout=REQUEST_TIMEOUT_SECONDS)).items
        found = [e for e in events if e.involved_object is not None and e.involved_object.name in names]
        if not found:
            return ""
        latest = max(found, key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp or ""))
        return " ".join(f"{latest.reason or ''}: {latest.message or ''}".split())

    def terminate(self, machine_ids: list[str]) -> None:
        """``delete`` each Job (background propagation: the cluster removes its pod, which gets SIGTERM and
        unregisters its runner) and its Secret; one already gone is fine."""
        for machine_id in machine_ids:
            self._delete(machine_id)

    def _delete(self, name: str) -> None:
        from kubernetes import client

        options = client.V1DeleteOptions(propagation_policy="Background")
        self._call(f"deleting Job {name}", lambda batch, core: batch.delete_namespaced_job(
            name, self.namespace, body=options, _request_timeout=REQUEST_TIMEOUT_SECONDS), absent=True)
        self._call(f"deleting Secret {name}", lambda batch, core: core.delete_namespaced_secret(
            name, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS), absent=True)

    def machines(self, name: str | None = None, live_only: bool = True) -> list[Machine]:
        """``list`` the Jobs and pods labelled ``app.kubernetes.io/managed-by=cml`` (and the runner's name)."""
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        if name is not None:
            selector += f",{RUNNER_LABEL}={label_safe(name)}"
        jobs = self._call("listing runner Jobs", lambda batch, core: batch.list_namespaced_job(
            self.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS)).items
        pods = self._call("listing runner pods", lambda batch, core: core.list_namespaced_pod(
            self.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS)).items
        by_job: dict[str, list[Any]] = {}
        for pod in pods:
            by_job.setdefault((pod.metadata.labels or {}).get(JOB_LABEL, ""), []).append(pod)
        found = [self._machine(job, by_job.get(job.metadata.name, [])) for job in jobs]
        found = [m for m in found if (name is None or m.name == name) and (m.live or not live_only)]
        return sorted(found, key=lambda m: (m.launched_at is None, m.launched_at or datetime.min, m.name, m.id))

    def _machine(self, job: Any, pods: list[Any]) -> Machine:
        annotations = job.metadata.annotations or {}
        tags = {tag: annotations[key] for tag, key in TAG_ANNOTATIONS.items() if key in annotations}
        tags.update({k: v for k, v in (job.metadata.labels or {}).items()
                     if not k.startswith(("cml/", "app.kubernetes.io/"))})
        state, reason = job_state(job, pods)
        node = next((p.spec.node_name for p in pods if p.spec is not None and p.spec.node_name), None)
        return Machine(id=job.metadata.name, name=tags.get(RUNNER_TAG, ""), state=state,
                       instance_type=annotations.get(INSTANCE_TYPE_ANNOTATION, ""), region=self.namespace,
                       launched_at=job.metadata.creation_timestamp, tags=tags, state_reason=reason,
                       placement=f"node {node}" if node else "")


def job_state(job: Any, pods: list[Any]) -> tuple[MachineState, str]:
    """The machine state of a Job and its pods, and why it waits or ended: being deleted is shutting down; a
    finished Job or pod is terminated; a running pod is running; anything else is pending, with the reason the
    pod is not scheduled or its container not started."""
    if job.metadata.deletion_timestamp is not None:
        return MachineState.SHUTTING_DOWN, ""
    for condition in (job.status.conditions or []) if job.status else []:
        if condition.type in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget") and condition.status == "True":
            return MachineState.TERMINATED, " ".join(f"{condition.reason or ''} {condition.message or ''}".split())
    pod = max(pods, key=lambda p: str(p.metadata.creation_timestamp or ""), default=None)
    if pod is None or pod.status is None:
        return MachineState.PENDING, ""
    phase = pod.status.phase or "Pending"
    if phase in ("Succeeded", "Failed"):
        return MachineState.TERMINATED, pod.status.message or pod.status.reason or phase.lower()
    if pod.metadata.deletion_timestamp is not None:
        return MachineState.SHUTTING_DOWN, ""
    if phase == "Running":
        return MachineState.RUNNING, ""
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False" and condition.message:
            return MachineState.PENDING, condition.message
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state is not None else None
        if waiting is not None and waiting.reason and waiting.reason != "ContainerCreating":
            return MachineState.PENDING, " ".join(f"{waiting.reason}: {waiting.message or ''}".split()).rstrip(":")
    return MachineState.PENDING, ""


def _create_or_keep(create: Callable[[], Any]) -> Any:
    """``create()``; ``None`` when the object exists already (a retried start)."""
    from kubernetes.client.exceptions import ApiException

    try:
        return create()
    except ApiException as error:
        if error.status == 409:
            return None
        raise


def _describe(error: Any) -> str:
    """An ApiException as one line: status, reason and the API's message."""
    message = ""
    try:
        message = json.loads(error.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = str(error.body or "")
    return " ".join(f"{error.status} {error.reason or ''}: {message}".split()).rstrip(":")
