"""Google Cloud Compute Engine, through ``google-cloud-compute``: one VM per runner, deleted when it powers off.

Everything Compute Engine knows lives here: zones and iterative/cml's region aliases, the
machine types and accelerators behind iterative/cml's sizes and GPU names, image references,
label rules, the metadata limit and the GCP-only options.

Credentials are Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` (a service
account key, or a workload identity federation configuration such as google-github-actions/auth
writes), iterative/cml's ``GOOGLE_APPLICATION_CREDENTIALS_DATA`` (the same JSON, inline), else
what ``google.auth.default()`` finds (gcloud's application-default login, the metadata server).
``CML_GCP_COMPUTE_ENDPOINT`` replaces the Compute API endpoint (``http://`` is accepted) and
``CML_GCP_REQUEST_TIMEOUT`` the per-request time-out (60 s). Failed calls are repeated three times
at most, after server errors, throttling and lost connections; inserts keep their ``requestId``.

A VM must not outlive its runner, and a guest power-off only stops a VM (its disk is still billed):
the VM gets a ``shutdown-script`` that deletes the VM through the Compute API with its own service
account's token, and ``scheduling.maxRunDuration`` with ``instanceTerminationAction: DELETE`` so that
Compute Engine itself deletes it at the maximum runtime, whatever happens inside.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, NamedTuple

from cml.errors import CmlError, UsageError
from cml.runner.backends.base import (
    DEADLINE_TAG,
    REGION_PARAMETER,
    RUNNER_TAG,
    CapacityError,
    CloudBackend,
    CloudError,
    CloudOption,
    Machine,
    MachineState,
    PreparedMachine,
)
from cml.runner.spec import MachineImage, MachineSpec, Region
from cml.runner.startup import MachineHooks

#: iterative/cml's Terraform provider's GCP zones for its region aliases.
REGION_ALIASES = {"us-east": "us-east1-c", "us-west": "us-west1-b", "eu-north": "europe-north1-a",
                  "eu-west": "europe-west1-d"}
DEFAULT_REGION = "us-west"
ZONE_PATTERN = re.compile(r"[a-z]+-[a-z]+\d+-[a-z]")
REGION_PATTERN = re.compile(r"[a-z]+-[a-z]+\d+")
#: The zone a bare region name stands for: its ``-a`` zone, except in regions that have none.
FIRST_ZONES = {"us-east1": "us-east1-b", "europe-west1": "europe-west1-b"}
#: gcloud's own settings, read when no region is given.
ZONE_VARIABLES = ("CLOUDSDK_COMPUTE_ZONE", "CLOUDSDK_COMPUTE_REGION")
PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT")
ENDPOINT_VARIABLE = "CML_GCP_COMPUTE_ENDPOINT"
CREDENTIALS_DATA_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS_DATA"
CREDENTIALS_FILE_VARIABLE = "GOOGLE_APPLICATION_CREDENTIALS"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
COMPUTE_SCOPE = "https://www.googleapis.com/auth/compute"
INSTALL_HINT = "pip install 'cml-ci[gcp]'"


class SizeType(NamedTuple):
    """A machine type and the accelerators to attach to it (none: the type has its GPUs built in, or none)."""

    machine_type: str
    accelerators: int = 0


#: ``cloud_type`` size → machine type, by GPU (``None``: no GPU): iterative/cml's Terraform provider's GCP table
#: (sizes, k80, v100, m+t4), completed with the GPUs Compute Engine offers today.
SIZE_TYPES: dict[str | None, dict[str, SizeType]] = {
    None: {"m": SizeType("e2-custom-8-32768"), "l": SizeType("e2-custom-32-131072"),
           "xl": SizeType("n2-custom-64-262144")},
    "k80": {"m": SizeType("custom-8-53248", 1), "l": SizeType("custom-32-131072", 4),
            "xl": SizeType("custom-64-212992-ext", 8)},
    "v100": {"m": SizeType("custom-8-65536-ext", 1), "l": SizeType("custom-32-262144-ext", 4),
             "xl": SizeType("custom-64-524288-ext", 8)},
    "t4": {"m": SizeType("n1-standard-4", 1), "l": SizeType("n1-standard-48", 4), "xl": SizeType("n1-standard-96", 4)},
    "l4": {"m": SizeType("g2-standard-8"), "l": SizeType("g2-standard-48"), "xl": SizeType("g2-standard-96")},
    "a100": {"m": SizeType("a2-highgpu-1g"), "l": SizeType("a2-highgpu-4g"), "xl": SizeType("a2-highgpu-8g")},
    "a100-80gb": {"m": SizeType("a2-ultragpu-1g"), "l": SizeType("a2-ultragpu-4g"), "xl": SizeType("a2-ultragpu-8g")},
    "h100": {"m": SizeType("a3-highgpu-1g"), "l": SizeType("a3-highgpu-4g"), "xl": SizeType("a3-highgpu-8g")},
}
#: GPUs attached to N1 machine types, by their accelerator type.
ACCELERATOR_TYPES = {"k80": "nvidia-tesla-k80", "v100": "nvidia-tesla-v100", "t4": "nvidia-tesla-t4",
                     "p4": "nvidia-tesla-p4", "p100": "nvidia-tesla-p100"}
#: Machine families that attach the GPUs of :data:`ACCELERATOR_TYPES` (``custom-`` is N1 custom).
ACCELERATOR_FAMILIES = ("n1-", "custom-")
#: GPUs that come only built into their machine family.
BUILT_IN_GPU_FAMILIES = {"l4": "g2-", "a100": "a2-highgpu-", "a100-80gb": "a2-ultragpu-", "h100": "a3-"}
#: Names users (and AWS/Azure habits) give the same GPU.
GPU_ALIASES: dict[str, str | None] = {
    "tesla": "v100", "nvidia-l4": "l4", "nvidia-tesla-a100": "a100", "nvidia-a100-80gb": "a100-80gb",
    "nvidia-h100-80gb": "h100", "nogpu": None, "none": None,
    **{accelerator: gpu for gpu, accelerator in ACCELERATOR_TYPES.items()}}
DEFAULT_SIZE = "m"
MACHINE_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")
#: ``TYPE+GPU[*COUNT]``: a machine type with accelerators, as iterative's provider wrote it.
ACCELERATED_TYPE_PATTERN = re.compile(r"(?P<type>[^+*]+)\+(?P<gpu>[^+*]+)(\*(?P<count>[1-9]\d*))?")
#: Arm machine families, which need an arm64 image.
ARM_FAMILIES = ("t2a-", "c4a-", "n4a-")

#: Ubuntu LTS for a machine without GPU, by architecture; the deep learning image with NVIDIA driver, CUDA and
#: Docker for one with a GPU.
DEFAULT_IMAGES = {"x86_64": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64",
                  "arm64": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-arm64"}
DEFAULT_GPU_IMAGE = "projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570"
IMAGE_URL_PREFIX = re.compile(r"^https://(www|compute)\.googleapis\.com/compute/(v1|beta)/")
NAME_PART = r"[a-z0-9][a-z0-9-]*"
IMAGE_PATTERNS = (re.compile(rf"projects/{NAME_PART}(\.[a-z0-9:.-]+)?/global/images/(family/)?{NAME_PART}"),
                  re.compile(rf"global/images/(family/)?{NAME_PART}"))
PROJECT_FAMILY_PATTERN = re.compile(rf"(?P<project>[a-z][a-z0-9:.-]*)/(?P<family>{NAME_PART})")

#: Compute Engine takes metadata values up to 256 KB, and runs the startup script as it is (no gzip).
METADATA_VALUE_LIMIT = 256 * 1024
MIN_DISK_GB = 35
MIN_GPU_DISK_GB = 50
#: Compute Engine deletes the VM this long after the maximum runtime, so the runner can unregister first.
DELETE_GRACE_SECONDS = 600
#: Longest ``maxRunDuration`` Compute Engine accepts (120 days).
MAX_RUN_DURATION_SECONDS = 120 * 86400
OPERATION_TIMEOUT_SECONDS = 600
REQUEST_TIMEOUT_SECONDS = 60
#: Overrides :data:`REQUEST_TIMEOUT_SECONDS` (seconds; tests may shorten it).
TIMEOUT_VARIABLE = "CML_GCP_REQUEST_TIMEOUT"
#: Pauses before repeating a call that failed for a passing reason (server error, throttling, lost connection).
RETRY_DELAYS = (0.25, 0.5, 1.0)

#: GCP labels: keys start with a lowercase letter; keys and values hold lowercase letters, digits, ``_`` and ``-``.
LABEL_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_PATTERN = re.compile(r"[a-z0-9_-]{0,63}")
RUNNER_LABEL = "cml-runner"
#: The instance metadata key holding the exact tags, which labels can only approximate.
TAGS_METADATA_KEY = "cml-tags"
INSTANCE_NAME_LIMIT = 63
REQUEST_PREFIX = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")

#: Compute Engine error reasons that mean "no capacity (or quota) now", not "wrong request".
CAPACITY_REASONS = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                    "QUOTA_EXCEEDED", "quotaExceeded")

#: GCP instance status → machine state. ``TERMINATED`` is a stopped VM that still exists (and its disk costs).
STATES = {"PROVISIONING": MachineState.PENDING, "STAGING": MachineState.PENDING, "REPAIRING": MachineState.PENDING,
          "RUNNING": MachineState.RUNNING, "STOPPING": MachineState.STOPPING, "SUSPENDING": MachineState.STOPPING,
          "STOPPED": MachineState.STOPPED, "SUSPENDED": MachineState.STOPPED, "TERMINATED": MachineState.STOPPED}

#: Deletes this VM through the Compute API with the VM's own service account token, from the metadata server.
SELF_DELETE_COMMAND = "; ".join((
    "cml_metadata=http://metadata.google.internal/computeMetadata/v1",
    "cml_read() { curl -fsS -m 10 -H 'Metadata-Flavor: Google' \"$cml_metadata/$1\"; }",
    "cml_token=$(cml_read instance/service-accounts/default/token | "
    "sed -n 's/.*\"access_token\" *: *\"\\([^\"]*\\)\".*/\\1/p')",
    "cml_zone=$(cml_read instance/zone)",
    # the header goes through stdin (printf is a builtin): a token in curl's arguments is in every process list
    "[ -n \"$cml_token\" ] && printf 'Authorization: Bearer %s\\n' \"$cml_token\" | curl -fsS -m 30 -X DELETE -H @- "
    "\"https://compute.googleapis.com/compute/v1/projects/$(cml_read project/project-id)/zones/${cml_zone##*/}"
    "/instances/$(cml_read instance/name)\""))
#: The ``shutdown-script`` the guest agent runs when the VM powers off, whoever powers it off: a stopped VM would
#: keep its disk (and its bill), so it deletes itself instead.
SELF_DELETE_SCRIPT = f"#!/bin/bash\n# cml runner: a runner VM that powers off deletes itself.\n{SELF_DELETE_COMMAND}\n"
#: The startup script's hooks: it powers off as on any cloud (the shutdown script then deletes the VM), and
#: reads Compute Engine's preemption flag for a spot interruption.
MACHINE_HOOKS = MachineHooks(
    spot_notice='curl -fsS -m 2 -H "Metadata-Flavor: Google" http://metadata.google.internal'
                '/computeMetadata/v1/instance/preempted | grep -qx TRUE')
#: gcloud's short names for the scopes iterative/cml accepted in ``email,scopes=…``.
SCOPE_ALIASES = {"cloud-platform": CLOUD_PLATFORM_SCOPE, "compute-rw": COMPUTE_SCOPE,
                 "compute-ro": "https://www.googleapis.com/auth/compute.readonly",
                 "storage-full": "https://www.googleapis.com/auth/devstorage.full_control",
                 "storage-ro": "https://www.googleapis.com/auth/devstorage.read_only",
                 "storage-rw": "https://www.googleapis.com/auth/devstorage.read_write",
                 "logging-write": "https://www.googleapis.com/auth/logging.write",
                 "monitoring-write": "https://www.googleapis.com/auth/monitoring.write"}


def zone_name(region: str | None, source: str, parameter: str | None) -> str:
    """``us-west`` → ``us-west1-b``; a region → its first zone; a zone as it is. A bad value is a UsageError naming
    ``parameter``, or, without one, naming ``source`` in its message."""
    value = (region or DEFAULT_REGION).strip().lower()
    value = REGION_ALIASES.get(value, value)
    if REGION_PATTERN.fullmatch(value):
        value = FIRST_ZONES.get(value, f"{value}-a")
    if not ZONE_PATTERN.fullmatch(value):
        message = (f"'{region}' is not a Google Cloud zone (like us-west1-b), region (us-west1) or one of "
                   f"{', '.join(REGION_ALIASES)}")
        if parameter is not None:
            raise UsageError(message, parameter=parameter)
        raise UsageError(f"{message} (from {source}); fix it or pass --cloud-region")
    return value


def region_of(zone: str) -> str:
    """``us-west1-b`` → ``us-west1``."""
    return zone.rsplit("-", 1)[0]


def resolve_gpu(cloud_gpu: str | None) -> str | None:
    """A GPU name as a key of :data:`SIZE_TYPES` or :data:`ACCELERATOR_TYPES`, or ``None`` for no GPU."""
    if cloud_gpu is None or not cloud_gpu.strip():
        return None
    name = cloud_gpu.strip().lower()
    resolved = GPU_ALIASES.get(name, name)
    if resolved is not None and resolved not in SIZE_TYPES and resolved not in ACCELERATOR_TYPES:
        known = ", ".join(sorted({g for g in SIZE_TYPES if g} | set(ACCELERATOR_TYPES)))
        raise UsageError(f"unknown GPU '{cloud_gpu}'; use one of {known}, or nogpu", parameter="cloud_gpu")
    return resolved


class AcceleratedType(NamedTuple):
    """A machine type as :meth:`GcpBackend.machine_type` writes it: ``TYPE`` or ``TYPE+ACCELERATOR*COUNT``."""

    machine_type: str
    accelerator: str | None = None
    accelerator_count: int = 0

    def __str__(self) -> str:
        return f"{self.machine_type}+{self.accelerator}*{self.accelerator_count}" if self.accelerator else self.machine_type

    @property
    def gpu(self) -> bool:
        """Whether the machine has a GPU, attached or built into its family."""
        return bool(self.accelerator) or self.machine_type.startswith(tuple(BUILT_IN_GPU_FAMILIES.values()))

    @property
    def architecture(self) -> str:
        """``arm64`` for Arm families, else ``x86_64``."""
        return "arm64" if self.machine_type.startswith(ARM_FAMILIES) else "x86_64"

    @classmethod
    def parse(cls, value: str) -> AcceleratedType:
        """``n1-standard-8+nvidia-tesla-t4*2`` → its parts; a type without ``+`` has no accelerator."""
        match = ACCELERATED_TYPE_PATTERN.fullmatch(value)
        if not match:
            return cls(value)
        return cls(match["type"], match["gpu"], int(match["count"] or 1))


def _with_gpu(machine_type: str, gpu: str | None, count: int, shown: str) -> AcceleratedType:
    """``machine_type`` checked against ``gpu``: a built-in GPU needs its family, an attached one an N1 type."""
    if gpu is None:
        return AcceleratedType(machine_type)
    if gpu in BUILT_IN_GPU_FAMILIES:
        family = BUILT_IN_GPU_FAMILIES[gpu]
        if not machine_type.startswith(family):
            raise UsageError(f"{gpu} GPUs come only with {family}* machine types, not {shown}; drop the type (a "
                             f"size like m+{gpu} picks one) or pick a {family}* type", parameter="cloud_gpu")
        return AcceleratedType(machine_type)
    if not machine_type.startswith(ACCELERATOR_FAMILIES):
        raise UsageError(f"{gpu} GPUs attach only to N1 machine types (n1-*, custom-*), not {shown}",
                         parameter="cloud_gpu")
    return AcceleratedType(machine_type, ACCELERATOR_TYPES[gpu], count)


def instance_name(runner_name: str, token: str) -> str:
    """A Compute Engine instance name for the runner: lowercase letters, digits and ``-``, at most 63, ending in
    six characters of ``token`` so that relaunching a name never collides with a VM still being deleted."""
    base = re.sub(r"[^a-z0-9-]+", "-", runner_name.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = f"cml-{base}".rstrip("-")
    suffix = re.sub(r"[^a-z0-9]", "", token.lower())[:6] or "0"
    return f"{base[:INSTANCE_NAME_LIMIT - len(suffix) - 1].rstrip('-')}-{suffix}"


def label_value(text: str) -> str:
    """``text`` as a GCP label value: lowercase, other characters as ``-``, at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def label_key(key: str) -> str:
    """``cml:runner`` → ``cml-runner``: a tag key as a GCP label key."""
    value = label_value(key)
    return value if value[:1].isalpha() else f"k-{value}"[:63]


def labels_for(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags as GCP labels (lossy: the exact tags go in the :data:`TAGS_METADATA_KEY` metadata)."""
    return {label_key(key): label_value(value) for key, value in tags.items()}


def request_id(token: str) -> str:
    """The insert request's ``requestId`` (a UUID, as Compute Engine wants) for an idempotency ``token``."""
    try:
        return str(uuid.UUID(token))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cml-runner:{token}"))


def max_run_seconds(tags: Mapping[str, str], now: datetime) -> int | None:
    """Seconds from ``now`` until the maximum runtime in the :data:`DEADLINE_TAG`, plus a grace period for the
    runner to unregister; ``None`` when there is no maximum runtime."""
    deadline = tags.get(DEADLINE_TAG, "")
    try:
        ends = datetime.strptime(deadline, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    seconds = math.ceil((ends - now).total_seconds()) + DELETE_GRACE_SECONDS
    return max(30, min(seconds, MAX_RUN_DURATION_SECONDS))


def service_account(permission_set: str | None) -> dict[str, Any]:
    """``email[,scopes=a,b]`` (iterative/cml's form; default: the project's default compute service account) as
    the VM's service account; the scopes always let the VM delete itself."""
    email, _, rest = (permission_set or "").partition(",")
    scopes = [CLOUD_PLATFORM_SCOPE]
    if rest.strip():
        key, _, value = rest.partition("=")
        if key.strip() != "scopes" or not value.strip():
            raise UsageError(f"'{permission_set}' is not a service account: use EMAIL or EMAIL,scopes=SCOPE,SCOPE",
                             parameter="cloud_permission_set")
        scopes = [SCOPE_ALIASES.get(s.strip(), s.strip()) for s in value.split(",") if s.strip()]
        if CLOUD_PLATFORM_SCOPE not in scopes and COMPUTE_SCOPE not in scopes:
            scopes.append(COMPUTE_SCOPE)
    return {"email": email.strip() or "default", "scopes": scopes}


@dataclass(frozen=True)
class GcpImage(MachineImage):
    """An image (``projects/P/global/images/NAME``) or image family (``…/images/family/F``); ``None``: the default
    for the machine (see :data:`DEFAULT_IMAGES`)."""

    source: str | None = None

    @classmethod
    def parse(cls, cloud_image: str | None) -> GcpImage:
        """``[user@]projects/P/global/images/[family/]NAME``, its URL, ``global/images/…`` (the launch project's),
        or iterative's ``[user@]PROJECT/FAMILY``."""
        if not cloud_image or not cloud_image.strip():
            return cls(user="ubuntu")
        text = cloud_image.strip()
        user, _, reference = text.rpartition("@") if "@" in text.split("/")[0] else ("", "", text)
        reference = IMAGE_URL_PREFIX.sub("", reference)
        if any(pattern.fullmatch(reference) for pattern in IMAGE_PATTERNS):
            return cls(source=reference, user=user or None)
        match = PROJECT_FAMILY_PATTERN.fullmatch(reference)
        if match:
            return cls(source=f"projects/{match['project']}/global/images/family/{match['family']}",
                       user=user or None)
        raise UsageError(f"'{cloud_image}' is not an image: use projects/PROJECT/global/images/family/FAMILY, "
                         f"projects/PROJECT/global/images/NAME or PROJECT/FAMILY", parameter="cloud_image")

    def source_for(self, machine: AcceleratedType) -> str:
        """The image to boot ``machine`` from."""
        if self.source:
            return self.source
        return DEFAULT_GPU_IMAGE if machine.gpu and machine.architecture == "x86_64" \
            else DEFAULT_IMAGES[machine.architecture]


def instance_body(prepared: PreparedMachine, startup_script: str, tags: Mapping[str, str], name: str,
                  spot: bool, now: datetime) -> dict[str, Any]:
    """The ``instances.insert`` body (field names as ``google-cloud-compute`` spells them) for ``prepared``."""
    spec = prepared.spec
    zone = spec.region
    machine = AcceleratedType.parse(spec.instance_type)
    labels = labels_for(tags)
    scheduling: dict[str, Any] = {"automatic_restart": False,
                                  "on_host_maintenance": "TERMINATE" if machine.gpu or spot else "MIGRATE"}
    if spot:
        scheduling.update(provisioning_model="SPOT", instance_termination_action="DELETE")
    run_seconds = max_run_seconds(tags, now)
    if run_seconds is not None:
        scheduling.update(max_run_duration={"seconds": run_seconds}, instance_termination_action="DELETE")
    metadata = {"startup-script": startup_script, "shutdown-script": SELF_DELETE_SCRIPT,
                TAGS_METADATA_KEY: json.dumps(dict(tags), sort_keys=True)}
    if machine.gpu:
        metadata["install-nvidia-driver"] = "True"
    network_interface: dict[str, Any] = {
        "network": prepared.details.get("network") or "global/networks/default",
        "access_configs": [{"name": "External NAT", "type_": "ONE_TO_ONE_NAT"}]}
    if prepared.details.get("subnet"):
        network_interface["subnetwork"] = prepared.details["subnet"]
    body: dict[str, Any] = {
        "name": name,
        "machine_type": f"zones/{zone}/machineTypes/{machine.machine_type}",
        "labels": labels,
        "metadata": {"items": [{"key": key, "value": value} for key, value in metadata.items()]},
        "disks": [{"boot": True, "auto_delete": True, "initialize_params": {
            "source_image": prepared.image_id, "disk_size_gb": prepared.disk_gb, "labels": labels}}],
        "network_interfaces": [network_interface],
        "scheduling": scheduling,
        "service_accounts": [service_account(spec.permission_set)],
    }
    if machine.accelerator:
        body["guest_accelerators"] = [{"accelerator_type": f"zones/{zone}/acceleratorTypes/{machine.accelerator}",
                                       "accelerator_count": machine.accelerator_count}]
    return body


def _error_reasons(error: Exception) -> list[str]:
    error = _cause(error)
    reasons = [str(getattr(error, "reason", "") or "")]
    for detail in getattr(error, "errors", None) or []:
        reasons.append(str(detail.get("reason", "") if isinstance(detail, Mapping) else getattr(detail, "reason", "")))
    return [reason for reason in reasons if reason]


def _cause(error: Exception) -> Exception:
    """The last failure behind a retry that gave up, else ``error``."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, Exception) else error


def describe_error(error: Exception) -> str:
    """A Google API or authentication failure as one line."""
    error = _cause(error)
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    # The client library starts its messages with the request (method and URL): the reason is what follows.
    return REQUEST_PREFIX.sub("", " ".join(str(message).split()))


def _is_capacity(reasons: Sequence[str], message: str) -> bool:
    return any(reason in CAPACITY_REASONS for reason in reasons) or any(code in message
                                                                       for code in CAPACITY_REASONS[:3])


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _load_credentials(environ: Mapping[str, str]) -> tuple[Any, str | None]:
    """Credentials and their project: inline JSON, a credentials file, else ``google.auth.default()``."""
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
    except ImportError:
        raise CmlError(f"the Google Cloud backend needs google-auth: {INSTALL_HINT}") from None

    try:
        data = (environ.get(CREDENTIALS_DATA_VARIABLE) or "").strip()
        path = (environ.get(CREDENTIALS_FILE_VARIABLE) or "").strip()
        with warnings.catch_warnings():
            # google-auth warns about configurations from untrusted sources; these are the user's own, the
            # ones google.auth.default() itself would load (of any type: key, federation, user login).
            warnings.simplefilter("ignore", DeprecationWarning)
            if data:
                return google.auth.load_credentials_from_dict(json.loads(data), scopes=[CLOUD_PLATFORM_SCOPE])
            if path:
                return google.auth.load_credentials_from_file(path, scopes=[CLOUD_PLATFORM_SCOPE])
        return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except (GoogleAuthError, ValueError, OSError) as error:
        raise CloudError(f"Google Cloud credentials: {describe_error(error)}; set {CREDENTIALS_FILE_VARIABLE} "
                         f"or run: gcloud auth application-default login") from None


class GcpBackend(CloudBackend):
    """Compute Engine VMs. Calls ``instances.insert``, ``instances.get``, ``instances.delete``,
    ``instances.aggregatedList`` and ``zoneOperations.wait``."""

    name = "gcp"
    title = "Google Cloud Compute Engine"
    service = "Compute Engine"
    user_data_limit = METADATA_VALUE_LIMIT
    machine_hooks = MACHINE_HOOKS
    options = (
        CloudOption("cloud_gcp_project", "PROJECT", "Google Cloud project  [default: GOOGLE_CLOUD_PROJECT, "
                    "CLOUDSDK_CORE_PROJECT, the credentials' project]"),
        CloudOption("cloud_gcp_network", "NETWORK", "VPC network  [default: default]"),
        CloudOption("cloud_gcp_subnet", "SUBNET", "Subnetwork (regions/REGION/subnetworks/NAME or its name).")
    )
    option_help = {
        "cloud_region": "Zone or region (its first zone), or us-east, us-west, eu-west, eu-north  [default: "
                        "CLOUDSDK_COMPUTE_ZONE, CLOUDSDK_COMPUTE_REGION, else us-west: us-west1-b]",
        "cloud_type": "Machine type (n2-standard-8, n1-standard-8+nvidia-tesla-t4*2), or a size m, l, xl "
                      "(optionally +GPU: m+t4)  [default: m]",
        "cloud_gpu": "GPU for a size or an N1 type: t4, l4, v100, a100, a100-80gb, h100, p4, p100, k80, or nogpu",
        "cloud_hdd_size": f"Boot disk size  [default: {MIN_DISK_GB}, {MIN_GPU_DISK_GB} with a GPU]",
        "cloud_image": "projects/PROJECT/global/images/family/FAMILY, projects/PROJECT/global/images/NAME or "
                       "PROJECT/FAMILY  [default: Ubuntu 24.04 LTS; with a GPU, the Deep Learning VM image]",
        "cloud_permission_set": "Service account email for the VM (EMAIL,scopes=S,S accepted); it needs "
                                "compute.instances.delete to delete its VM  [default: the default compute account]",
    }

    def __init__(self, region: str, environ: Mapping[str, str], warn: Callable[[str], None]):
        self.zone = region
        self.region = region_of(region)
        self.warn = warn
        self.environ = environ
        self.credentials, credentials_project = _load_credentials(environ)
        self.default_project = next((environ[name].strip() for name in PROJECT_VARIABLES
                                     if (environ.get(name) or "").strip()), None) or credentials_project
        self.project_option: str | None = None
        self._clients: tuple[Any, Any] | None = None
        #: The client library's own retries are off (``None``): :meth:`_repeat` retries, a bounded number of times.
        self.retry: Any = None
        try:
            self.timeout = float(environ.get(TIMEOUT_VARIABLE) or REQUEST_TIMEOUT_SECONDS)
        except ValueError:
            raise UsageError(f"{TIMEOUT_VARIABLE} is not a number of seconds: {environ[TIMEOUT_VARIABLE]}") from None
        #: The zone of each instance seen, by name, for ``describe`` and ``terminate``.
        self.zones: dict[str, str] = {}

    @property
    def project(self) -> str:
        """The project VMs are started and looked for in."""
        project = self.project_option or self.default_project
        if not project:
            raise UsageError(f"no Google Cloud project: set {PROJECT_VARIABLES[0]}, pass --cloud-gcp-project to "
                             f"launch, or use credentials that name one")
        return project

    def _compute(self) -> tuple[Any, Any]:
        """The instances and zone operations clients (REST), created on first use."""
        if self._clients is None:
            try:
                from google.api_core.client_options import ClientOptions
                from google.cloud import compute_v1
            except ImportError:
                raise CmlError(f"the Google Cloud backend needs google-cloud-compute: {INSTALL_HINT}") from None
            endpoint = (self.environ.get(ENDPOINT_VARIABLE) or "").strip()
            options = ClientOptions(api_endpoint=endpoint) if endpoint else None
            self._clients = (
                compute_v1.InstancesClient(credentials=self.credentials, transport="rest", client_options=options),
                compute_v1.ZoneOperationsClient(credentials=self.credentials, transport="rest",
                                                client_options=options))
        return self._clients

    @classmethod
    def resolve_region(cls, cloud_region: str | None, environ: Mapping[str, str],
                       requested_from: str = REGION_PARAMETER, parameter: str | None = REGION_PARAMETER) -> Region:
        """``cloud_region`` when given; otherwise gcloud's ``CLOUDSDK_COMPUTE_ZONE`` or ``CLOUDSDK_COMPUTE_REGION``;
        otherwise iterative/cml's ``us-west`` (``us-west1-b``). Always a zone."""
        if cloud_region is not None and cloud_region.strip():
            return Region(zone_name(cloud_region, requested_from, parameter), requested_from)
        for variable in ZONE_VARIABLES:
            if (environ.get(variable) or "").strip():
                return Region(zone_name(environ[variable], variable, None), variable)
        return Region(zone_name(DEFAULT_REGION, DEFAULT_REGION, None), f"default {DEFAULT_REGION}")

    @classmethod
    def machine_type(cls, cloud_type: str | None, cloud_gpu: str | None) -> str:
        """A size (``m``, ``l+t4``) or a machine type (``n2-standard-8``, ``n1-standard-8+nvidia-tesla-t4*2``) and a
        GPU, as ``TYPE`` or ``TYPE+ACCELERATOR*COUNT``. A100, L4 and H100 come only with their own families
        (a2, g2, a3), which a size picks."""
        value = (cloud_type or DEFAULT_SIZE).strip().lower()
        size, _, size_gpu = value.partition("+")
        if size in SIZE_TYPES[None]:
            gpu = resolve_gpu(size_gpu) if size_gpu else resolve_gpu(cloud_gpu)
            if gpu in ACCELERATOR_TYPES and gpu not in SIZE_TYPES:
                return str(AcceleratedType(SIZE_TYPES["t4"][size].machine_type, ACCELERATOR_TYPES[gpu],
                                           SIZE_TYPES["t4"][size].accelerators))
            chosen = SIZE_TYPES[gpu][size]
            accelerator = ACCELERATOR_TYPES[gpu] if gpu and chosen.accelerators else None
            return str(AcceleratedType(chosen.machine_type, accelerator, chosen.accelerators))
        parsed = AcceleratedType.parse(value)
        if not MACHINE_TYPE_PATTERN.fullmatch(parsed.machine_type):
            raise UsageError(f"'{cloud_type}' is not a machine type (like n2-standard-8) or a size "
                             f"({', '.join(SIZE_TYPES[None])}, optionally +GPU like m+t4)", parameter="cloud_type")
        if parsed.accelerator:
            gpu = resolve_gpu(parsed.accelerator)
            if gpu is None or gpu not in ACCELERATOR_TYPES:
                raise UsageError(f"'{cloud_type}': {parsed.accelerator} is not a GPU to attach; attached GPUs are "
                                 f"{', '.join(ACCELERATOR_TYPES)}", parameter="cloud_type")
            wanted = resolve_gpu(cloud_gpu)
            if wanted is not None and wanted != gpu:
                raise UsageError(f"--cloud-type {value} has {gpu} GPUs, not {wanted}", parameter="cloud_gpu")
            return str(_with_gpu(parsed.machine_type, gpu, parsed.accelerator_count, value))
        return str(_with_gpu(parsed.machine_type, resolve_gpu(cloud_gpu), 1, value))

    @classmethod
    def parse_image(cls, cloud_image: str | None) -> GcpImage:
        """See :meth:`GcpImage.parse`."""
        return GcpImage.parse(cloud_image)

    @classmethod
    def parse_tags(cls, cloud_metadata: Sequence[str]) -> dict[str, str]:
        """GCP labels: keys start with a lowercase letter, keys and values up to 63 lowercase letters, digits, ``_``
        and ``-``; keys starting with ``cml-`` are this tool's."""
        tags = {}
        for item in cloud_metadata:
            key, _, value = item.partition("=")
            key = key.strip()
            if not LABEL_KEY_PATTERN.fullmatch(key) or not LABEL_VALUE_PATTERN.fullmatch(value) or \
                    key.startswith("cml-") or key.startswith("goog"):
                raise UsageError(f"'{item}' is not a label: use key=value, a key starting with a lowercase letter "
                                 f"(not cml- or goog), both up to 63 lowercase letters, digits, _ and -",
                                 parameter="cloud_metadata")
            tags[key] = value
        return tags

    def pack_startup_script(self, script: str) -> bytes:
        """``script`` as it is: Compute Engine runs the ``startup-script`` metadata value as plain text, so it must
        fit in the 256 KB metadata value limit uncompressed."""
        data = script.encode()
        if len(data) > self.user_data_limit:
            raise UsageError(f"the machine's startup script is {len(data):,} bytes, over {self.service}'s "
                             f"{self.user_data_limit:,}-byte metadata value limit; shorten it or have it download "
                             f"the rest", parameter="cloud_startup_script")
        return data

    def console_hint(self, machine_id: str) -> str:
        """The gcloud command that prints the VM's serial console output."""
        zone = self.zones.get(machine_id, self.zone)
        return (f"gcloud compute instances get-serial-port-output {machine_id} --zone {zone} "
                f"--project {self.project_option or self.default_project or 'PROJECT'}")

    @staticmethod
    def _repeat(operation: Callable[[], Any]) -> Any:
        """``operation()``, repeated after a server error, throttling or a lost connection, at most
        ``len(RETRY_DELAYS)`` more times. Every call here is safe to repeat: reads, deletes, and inserts
        (made idempotent by their ``requestId``)."""
        from google.api_core import exceptions
        from requests import ConnectionError as RequestsConnectionError
        from requests import Timeout as RequestsTimeout

        transient = (exceptions.InternalServerError, exceptions.ServiceUnavailable, exceptions.BadGateway,
                     exceptions.GatewayTimeout, exceptions.TooManyRequests, exceptions.DeadlineExceeded,
                     RequestsConnectionError, RequestsTimeout)
        for delay in RETRY_DELAYS:
            try:
                return operation()
            except transient:
                time.sleep(delay)
        return operation()

    def _call(self, action: str, operation: Callable[[], Any], absent: bool = False) -> Any:
        """``operation()`` (see :meth:`_repeat`); ``None`` for a 404 when ``absent``; a :class:`CloudError` for any
        other failure."""
        from google.api_core.exceptions import GoogleAPIError, NotFound
        from google.auth.exceptions import GoogleAuthError
        from requests import RequestException

        try:
            return self._repeat(operation)
        except NotFound as error:
            if absent:
                return None
            raise CloudError(f"Google Cloud {self.zone}: {action} failed: {describe_error(error)}") from None
        except (GoogleAPIError, GoogleAuthError, RequestException) as error:
            raise CloudError(f"Google Cloud {self.zone}: {action} failed: {describe_error(error)}") from None

    def prepare(self, spec: MachineSpec) -> PreparedMachine:
        """Resolve the project, image and disk size and create the clients, without calling the cloud: a machine
        type, image or network the project lacks is reported by ``instances.insert``, after which the launch
        cleans up."""
        own = spec.cloud_options
        if own.get("cloud_gcp_project"):
            self.project_option = str(own["cloud_gcp_project"]).strip()
        project = self.project
        self._compute()  # the client library loads now, not between the launch's deadline and the insert
        machine = AcceleratedType.parse(spec.instance_type)
        image = spec.image if isinstance(spec.image, GcpImage) else GcpImage.parse(None)
        disk = spec.disk_gb or (MIN_GPU_DISK_GB if machine.gpu else MIN_DISK_GB)
        network = (own.get("cloud_gcp_network") or "").strip()
        subnet = (own.get("cloud_gcp_subnet") or "").strip()
        if network and "/" not in network:
            network = f"global/networks/{network}"
        if subnet and "/" not in subnet:
            subnet = f"regions/{region_of(spec.region)}/subnetworks/{subnet}"
        return PreparedMachine(spec, image.source_for(machine), disk, machine.architecture,
                               {"project": project, "network": network, "subnet": subnet})

    def start(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str) -> Machine:
        """``instances.insert`` (``requestId`` from ``token``) with the startup script, a self-deleting shutdown
        script, ``maxRunDuration`` with ``instanceTerminationAction: DELETE``, a boot disk deleted with the VM,
        and spot scheduling for a spot machine; then ``zoneOperations.wait`` until the insert is done."""
        spec = prepared.spec
        instances, _ = self._compute()
        spot = spec.spot
        if spot and spec.spot_price is not None:
            self.warn("Compute Engine spot VMs have no maximum price; the spot price is ignored")
        while True:
            attempt_token = token + ("" if spot == spec.spot else "-on-demand")
            name = instance_name(tags.get(RUNNER_TAG, "cml"), request_id(attempt_token).replace("-", ""))
            body = instance_body(prepared, user_data.decode(), tags, name, spot, datetime.now(timezone.utc))
            try:
                self._insert(instances, prepared, body, request_id(attempt_token))
            except CapacityError as error:
                if spot and spec.spot_fallback:
                    self.warn(f"no spot capacity for {spec.instance_type} in {self.zone} ({error}); starting an "
                              f"on-demand VM (--cloud-spot-fallback)")
                    spot = False
                    continue
                hint = " or add --cloud-spot-fallback to start on demand instead" if spot else ""
                raise CapacityError(f"Google Cloud {self.zone}: no {'spot ' if spot else ''}capacity for "
                                    f"{spec.instance_type} now ({error}); retry later, pick another zone or "
                                    f"type{hint}") from None
            self.zones[name] = self.zone
            started = self.describe(name)
            if started is None:
                raise CloudError(f"Google Cloud {self.zone}: VM {name} was created but cannot be found")
            return started

    def _insert(self, instances: Any, prepared: PreparedMachine, body: dict[str, Any], request: str) -> None:
        """Insert and wait for the operation; capacity and quota failures raise :class:`CapacityError` (with the
        bare reason), anything else :class:`CloudError`."""
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import compute_v1
        from requests import RequestException

        project = prepared.details["project"]
        try:
            operation = self._repeat(lambda: instances.insert_unary(request=compute_v1.InsertInstanceRequest(
                project=project, zone=self.zone, instance_resource=compute_v1.Instance(body), request_id=request),
                retry=self.retry, timeout=self.timeout))
            self._wait(project, operation)
        except (GoogleAPIError, GoogleAuthError, RequestException) as error:
            reasons = _error_reasons(error)
            if _is_capacity(reasons, describe_error(error)):
                raise CapacityError(f"{', '.join(reasons) or 'capacity'}: {describe_error(error)}") from None
            raise CloudError(f"Google Cloud {self.zone}: starting the VM failed: {describe_error(error)}") from None

    def _wait(self, project: str, operation: Any) -> None:
        """``zoneOperations.wait`` (which itself waits up to two minutes) until the operation is done."""
        from google.cloud import compute_v1

        _, operations = self._compute()
        deadline = time.monotonic() + OPERATION_TIMEOUT_SECONDS
        while operation.status != compute_v1.Operation.Status.DONE:
            if time.monotonic() >= deadline:
                raise CloudError(f"Google Cloud {self.zone}: operation {operation.name} not done after "
                                 f"{OPERATION_TIMEOUT_SECONDS} s")
            # The server answers when the operation is done, or after up to two minutes.
            operation = self._repeat(functools.partial(
                operations.wait, project=project, zone=self.zone, operation=operation.name, retry=self.retry,
                timeout=self.timeout * 2.5))
        errors = list(operation.error.errors) if operation.error else []
        if errors:
            codes = [e.code for e in errors if e.code]
            message = "; ".join(" ".join((e.message or e.code).split()) for e in errors)
            if any(code in CAPACITY_REASONS for code in codes):
                raise CapacityError(f"{', '.join(codes)}: {message}")
            raise CloudError(f"Google Cloud {self.zone}: starting the VM failed: {', '.join(codes)}: {message}")

    def _machine(self, raw: Any) -> Machine:
        zone = str(raw.zone).rsplit("/", 1)[-1] or self.zone
        self.zones[raw.name] = zone
        items = {item.key: item.value for item in raw.metadata.items} if raw.metadata else {}
        try:
            tags = json.loads(items.get(TAGS_METADATA_KEY) or "{}")
        except ValueError:
            tags = {}
        if not isinstance(tags, dict):
            tags = {}
        labels = dict(raw.labels)
        tags = {str(key): str(value) for key, value in (tags or labels).items()}
        accelerators = list(raw.guest_accelerators)
        machine_type = str(raw.machine_type).rsplit("/", 1)[-1]
        if accelerators:
            machine_type = str(AcceleratedType(machine_type, str(accelerators[0].accelerator_type).rsplit("/", 1)[-1],
                                               accelerators[0].accelerator_count))
        scheduling = raw.scheduling
        spot = bool(scheduling) and (scheduling.provisioning_model == "SPOT" or bool(scheduling.preemptible))
        return Machine(id=raw.name, name=str(tags.get(RUNNER_TAG, labels.get(RUNNER_LABEL, ""))),
                       state=STATES.get(str(raw.status), MachineState.PENDING), instance_type=machine_type,
                       region=zone, spot=spot, launched_at=_parse_time(raw.creation_timestamp), tags=tags,
                       state_reason=raw.status_message or "")

    def describe(self, machine_id: str) -> Machine | None:
        """``instances.get`` in the VM's zone."""
        instances, _ = self._compute()
        zone = self.zones.get(machine_id, self.zone)
        raw = self._call(f"reading VM {machine_id}", lambda: instances.get(
            project=self.project, zone=zone, instance=machine_id, retry=self.retry, timeout=self.timeout),
            absent=True)
        return None if raw is None else self._machine(raw)

    def terminate(self, machine_ids: list[str]) -> None:
        """``instances.delete`` for each VM (its boot disk goes with it: ``autoDelete``); a VM already gone is
        fine. Does not wait for the deletion to finish."""
        instances, _ = self._compute()
        for machine_id in machine_ids:
            zone = self.zones.get(machine_id, self.zone)
            self._call(f"deleting VM {machine_id}", functools.partial(
                instances.delete_unary, project=self.project, zone=zone, instance=machine_id,
                retry=self.retry, timeout=self.timeout), absent=True)

    def machines(self, name: str | None = None, live_only: bool = True) -> list[Machine]:
        """``instances.aggregatedList`` filtered by the runner label (and name), every page, keeping the VMs in
        this zone's region."""
        instances, _ = self._compute()
        label_filter = f'labels.{RUNNER_LABEL} = "{label_value(name)}"' if name else f"labels.{RUNNER_LABEL}:*"

        def listing() -> list[Any]:
            pages = instances.aggregated_list(request={"project": self.project, "filter": label_filter},
                                              retry=self.retry, timeout=self.timeout)
            return [raw for _, scoped in pages for raw in scoped.instances]

        found = []
        for raw in self._call("listing runner VMs", listing):
            if RUNNER_LABEL not in raw.labels or region_of(str(raw.zone).rsplit("/", 1)[-1]) != self.region:
                continue
            machine = self._machine(raw)
            if (name is None or machine.name == name) and (machine.live or not live_only):
                found.append(machine)
        return sorted(found, key=lambda m: (m.launched_at is None, m.launched_at or datetime.min.replace(
            tzinfo=timezone.utc), m.name, m.id))
