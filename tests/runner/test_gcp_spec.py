"""The Google Cloud backend's own knowledge, without a cloud: zones, sizes, GPUs, images, labels, the insert body."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from cml.errors import UsageError
from cml.runner.backends import BACKENDS, Cloud, backend_class
from cml.runner.backends.base import DEADLINE_TAG, RUNNER_TAG, PreparedMachine
from cml.runner.backends.gcp import (
    DEFAULT_GPU_IMAGE,
    DEFAULT_IMAGES,
    MACHINE_HOOKS,
    SELF_DELETE_SCRIPT,
    GcpBackend,
    GcpImage,
    instance_body,
    instance_name,
    labels_for,
    request_id,
    service_account,
)
from cml.runner.spec import MachineSpec, Region

NOW = datetime(2026, 12, 1, 4, 0, 0, tzinfo=timezone.utc)


def test_gcp_is_a_backend():
    assert BACKENDS[Cloud.GCP] is GcpBackend and backend_class("gcp") is GcpBackend
    assert all(option.name.startswith("cloud_gcp_") for option in GcpBackend.options)


@pytest.mark.parametrize("given, zone", [
    ("us-west", "us-west1-b"), ("us-east", "us-east1-c"), ("eu-west", "europe-west1-d"),
    ("eu-north", "europe-north1-a"), ("us-central1", "us-central1-a"), ("us-east1", "us-east1-b"),
    ("europe-west1", "europe-west1-b"), (" asia-east1-c ", "asia-east1-c"),
])
def test_regions_resolve_to_zones(given, zone):
    assert GcpBackend.resolve_region(given, {}) == Region(zone, "cloud_region")


def test_region_defaults_come_from_gcloud_variables():
    assert GcpBackend.resolve_region(None, {}) == Region("us-west1-b", "default us-west")
    assert GcpBackend.resolve_region(None, {"CLOUDSDK_COMPUTE_REGION": "europe-west4"}) == Region(
        "europe-west4-a", "CLOUDSDK_COMPUTE_REGION")
    assert GcpBackend.resolve_region(None, {"CLOUDSDK_COMPUTE_ZONE": "us-central1-f",
                                            "CLOUDSDK_COMPUTE_REGION": "europe-west4"}) == Region(
        "us-central1-f", "CLOUDSDK_COMPUTE_ZONE")


def test_bad_regions_name_their_source():
    with pytest.raises(UsageError) as raised:
        GcpBackend.resolve_region("mars", {})
    assert raised.value.parameter == "cloud_region"
    with pytest.raises(UsageError) as raised:
        GcpBackend.resolve_region(None, {"CLOUDSDK_COMPUTE_ZONE": "mars"})
    assert raised.value.parameter is None and "(from CLOUDSDK_COMPUTE_ZONE)" in str(raised.value)


@pytest.mark.parametrize("cloud_type, cloud_gpu, machine_type", [
    (None, None, "e2-custom-8-32768"),
    ("l", None, "e2-custom-32-131072"),
    ("xl", "nogpu", "n2-custom-64-262144"),
    ("m+k80", None, "custom-8-53248+nvidia-tesla-k80*1"),
    ("l", "k80", "custom-32-131072+nvidia-tesla-k80*4"),
    ("xl+v100", None, "custom-64-524288-ext+nvidia-tesla-v100*8"),
    ("m", "tesla", "custom-8-65536-ext+nvidia-tesla-v100*1"),
    ("m+t4", None, "n1-standard-4+nvidia-tesla-t4*1"),
    ("m", "nvidia-tesla-t4", "n1-standard-4+nvidia-tesla-t4*1"),
    ("m+l4", None, "g2-standard-8"),
    ("m+a100", None, "a2-highgpu-1g"),
    ("xl", "nvidia-tesla-a100", "a2-highgpu-8g"),
    ("l+a100-80gb", None, "a2-ultragpu-4g"),
    ("m+h100", None, "a3-highgpu-1g"),
    ("n2-standard-8", None, "n2-standard-8"),
    ("n1-standard-8", "t4", "n1-standard-8+nvidia-tesla-t4*1"),
    ("n1-standard-8+nvidia-tesla-t4*2", None, "n1-standard-8+nvidia-tesla-t4*2"),
    ("a2-highgpu-2g", "a100", "a2-highgpu-2g"),
    ("g2-standard-24", "l4", "g2-standard-24"),
])
def test_sizes_and_gpus(cloud_type, cloud_gpu, machine_type):
    assert GcpBackend.machine_type(cloud_type, cloud_gpu) == machine_type


@pytest.mark.parametrize("cloud_type, cloud_gpu, parameter, words", [
    ("n2-standard-8", "a100", "cloud_gpu", "a2-highgpu-*"),
    ("n1-standard-8", "l4", "cloud_gpu", "g2-*"),
    ("n2-standard-8", "t4", "cloud_gpu", "N1 machine types"),
    ("m", "t5", "cloud_gpu", "unknown GPU"),
    ("n1-standard-8+nvidia-tesla-t4*2", "v100", "cloud_gpu", "not v100"),
    ("n1-standard-8+a100", None, "cloud_type", "not a GPU to attach"),
    ("Huge_Machine", None, "cloud_type", "not a machine type"),
])
def test_gpu_rules(cloud_type, cloud_gpu, parameter, words):
    with pytest.raises(UsageError) as raised:
        GcpBackend.machine_type(cloud_type, cloud_gpu)
    assert raised.value.parameter == parameter and words in raised.value.detail


def test_images():
    assert GcpBackend.parse_image(None) == GcpImage(user="ubuntu")
    family = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
    assert GcpBackend.parse_image(family) == GcpImage(source=family)
    assert GcpBackend.parse_image("ubuntu-os-cloud/ubuntu-2204-lts") == GcpImage(source=family)
    assert GcpBackend.parse_image("https://www.googleapis.com/compute/v1/" + family) == GcpImage(source=family)
    assert GcpBackend.parse_image("debian@projects/p/global/images/my-image") == GcpImage(
        source="projects/p/global/images/my-image", user="debian")
    with pytest.raises(UsageError) as raised:
        GcpBackend.parse_image("not an image")
    assert raised.value.parameter == "cloud_image"


def _prepared(instance_type: str, spot: bool = False, image: GcpImage | None = None, disk_gb: int | None = None,
              permission_set: str | None = None, **cloud_options: str) -> PreparedMachine:
    backend = object.__new__(GcpBackend)
    backend.project_option = None
    backend.default_project = "p"
    backend._clients = (None, None)  # no client: prepare() calls no cloud
    spec = MachineSpec(region="us-west1-b", instance_type=instance_type, image=image or GcpImage(user="ubuntu"),
                       disk_gb=disk_gb, spot=spot, permission_set=permission_set, cloud_options=cloud_options)
    return backend.prepare(spec)


def test_prepare_picks_image_disk_and_architecture_without_the_cloud():
    plain = _prepared("e2-custom-8-32768")
    assert (plain.image_id, plain.disk_gb, plain.architecture) == (DEFAULT_IMAGES["x86_64"], 35, "x86_64")
    gpu = _prepared("a2-highgpu-1g")
    assert (gpu.image_id, gpu.disk_gb) == (DEFAULT_GPU_IMAGE, 50)
    arm = _prepared("t2a-standard-4", disk_gb=100)
    assert (arm.image_id, arm.disk_gb, arm.architecture) == (DEFAULT_IMAGES["arm64"], 100, "arm64")
    networked = _prepared("n2-standard-8", cloud_gcp_project="other", cloud_gcp_subnet="runners")
    assert networked.details == {"project": "other", "network": "",
                                 "subnet": "regions/us-west1/subnetworks/runners"}


def test_tags_become_labels_and_stay_exact_in_metadata():
    assert labels_for({RUNNER_TAG: "My.Runner", "cml:repository": "github:Org/Repo", "team": "ml"}) == {
        "cml-runner": "my-runner", "cml-repository": "github-org-repo", "team": "ml"}
    assert GcpBackend.parse_tags(["team=ml", "cost_center=", "x-y=1_2"]) == {"team": "ml", "cost_center": "",
                                                                              "x-y": "1_2"}
    for bad in ("Team=ml", "team=ML", "cml-runner=x", "9lives=1", "k=" + "v" * 64):
        with pytest.raises(UsageError) as raised:
            GcpBackend.parse_tags([bad])
        assert raised.value.parameter == "cloud_metadata"


def test_instance_names_and_request_ids():
    token = "0123456789abcdef0123456789abcdef"
    assert request_id(token) == "01234567-89ab-cdef-0123-456789abcdef"
    assert request_id("not-a-uuid") == request_id("not-a-uuid") != request_id("other")
    assert instance_name("My.Runner_1", token) == "my-runner-1-012345"
    assert instance_name("9-lives", token) == "cml-9-lives-012345"
    long = instance_name("a" * 64, token)
    assert len(long) == 63 and long.endswith("-012345")


def test_insert_body_for_a_spot_gpu_machine_with_a_maximum_runtime():
    deadline = (NOW + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tags = {RUNNER_TAG: "cml-gpu", DEADLINE_TAG: deadline, "team": "ml"}
    prepared = _prepared("n1-standard-4+nvidia-tesla-t4*1", spot=True, permission_set="runner@p.iam.gserviceaccount.com")
    body = instance_body(prepared, "#!/bin/bash\necho hi\n", tags, "cml-gpu-abc123", True, NOW)
    assert body["machine_type"] == "zones/us-west1-b/machineTypes/n1-standard-4"
    assert body["guest_accelerators"] == [{"accelerator_type": "zones/us-west1-b/acceleratorTypes/nvidia-tesla-t4",
                                           "accelerator_count": 1}]
    assert body["scheduling"] == {"automatic_restart": False, "on_host_maintenance": "TERMINATE",
                                  "provisioning_model": "SPOT", "instance_termination_action": "DELETE",
                                  "max_run_duration": {"seconds": 2 * 3600 + 600}}
    disk = body["disks"][0]
    assert disk["boot"] and disk["auto_delete"] and disk["initialize_params"]["disk_size_gb"] == 50
    metadata = {item["key"]: item["value"] for item in body["metadata"]["items"]}
    assert metadata["startup-script"] == "#!/bin/bash\necho hi\n"
    assert metadata["shutdown-script"] == SELF_DELETE_SCRIPT and metadata["install-nvidia-driver"] == "True"
    assert json.loads(metadata["cml-tags"]) == tags
    assert body["labels"]["cml-runner"] == "cml-gpu" and body["labels"]["cml-max-runtime-ends"] == "2026-12-01t06-00-00z"
    assert body["service_accounts"] == [{"email": "runner@p.iam.gserviceaccount.com",
                                         "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]


def test_insert_body_for_an_on_demand_machine_without_a_maximum_runtime():
    body = instance_body(_prepared("e2-custom-8-32768"), "script", {RUNNER_TAG: "r", DEADLINE_TAG: "never"}, "r-1",
                         False, NOW)
    assert body["scheduling"] == {"automatic_restart": False, "on_host_maintenance": "MIGRATE"}
    assert "guest_accelerators" not in body
    assert body["service_accounts"][0]["email"] == "default"
    assert body["network_interfaces"][0]["network"] == "global/networks/default"


def test_service_accounts_keep_the_right_to_delete_their_vm():
    assert service_account("sa@p.iam.gserviceaccount.com,scopes=storage-rw") == {
        "email": "sa@p.iam.gserviceaccount.com",
        "scopes": ["https://www.googleapis.com/auth/devstorage.read_write", "https://www.googleapis.com/auth/compute"]}
    with pytest.raises(UsageError) as raised:
        service_account("sa@p.iam.gserviceaccount.com,roles=x")
    assert raised.value.parameter == "cloud_permission_set"


def test_a_powered_off_vm_deletes_itself_and_spot_notices_come_from_the_metadata_server():
    assert MACHINE_HOOKS.power_off == "" and "-X DELETE" in SELF_DELETE_SCRIPT
    assert "instance/service-accounts/default/token" in SELF_DELETE_SCRIPT
    assert "instance/preempted" in MACHINE_HOOKS.spot_notice


def test_the_startup_script_is_never_compressed():
    backend = object.__new__(GcpBackend)
    assert backend.pack_startup_script("echo hi") == b"echo hi"
    with pytest.raises(UsageError) as raised:
        backend.pack_startup_script("x" * (256 * 1024 + 1))
    assert raised.value.parameter == "cloud_startup_script"
