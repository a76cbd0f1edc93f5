"""The backend interface: each cloud's knowledge in its backend module, the shared code free of it."""

from __future__ import annotations

import ast
import inspect
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cml.errors import UsageError
from cml.runner.backends import BACKENDS, Cloud, backend_class, cloud_options, option_help
from cml.runner.backends.aws import AwsBackend, AwsImage
from cml.runner.backends.base import CloudBackend, Machine, MachineState
from cml.runner.backends.gcp import GcpBackend
from cml.runner.backends.kubernetes import KubernetesBackend
from cml.runner.launch import describe_machines
from cml.runner.spec import Region
from tests.python_source import parse_python

ROOT = Path(__file__).resolve().parents[2]
#: Modules every backend shares: a new cloud must not need a change here.
CLOUD_NEUTRAL = ["cml/runner/launch.py", "cml/runner/spec.py", "cml/runner/startup.py", "cml/cli/runner.py"]
AWS_WORDS = re.compile(r"(?i)(?<![a-z0-9])(aws|ec2|ami)(?![a-z0-9])|AWS_")
SHARED_OPTIONS = ("cloud_region", "cloud_type", "cloud_gpu", "cloud_hdd_size", "cloud_image", "cloud_permission_set")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def cloud_words(path: Path) -> list[str]:
    """Names and string literals (docstrings aside, whose examples may name a cloud) that name AWS or EC2."""
    tree = parse_python(path)
    docstrings = _docstrings(tree)
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts.append(node.value)
        elif isinstance(node, ast.Name):
            texts.append(node.id)
        elif isinstance(node, ast.Attribute):
            texts.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            texts.append(node.name)
        elif isinstance(node, (ast.arg, ast.keyword)) and node.arg:
            texts.append(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            texts += [getattr(node, "module", None) or "", *(alias.name for alias in node.names)]
    return [text for text in texts if AWS_WORDS.search(text.replace("_", " "))]


@pytest.mark.parametrize("module", CLOUD_NEUTRAL)
def test_shared_runner_code_names_no_cloud(module):
    assert cloud_words(ROOT / module) == []


def test_the_scan_finds_cloud_names():
    assert cloud_words(ROOT / "cml/runner/backends/aws.py")


@pytest.mark.parametrize("cloud, backend", list(BACKENDS.items()))
def test_every_backend_implements_the_interface(cloud, backend):
    assert issubclass(backend, CloudBackend) and not inspect.isabstract(backend)
    assert backend.name == cloud.value and backend.title and backend.service and backend.user_data_limit > 0
    assert set(SHARED_OPTIONS) <= set(backend.option_help)
    assert all(option.name.startswith(f"cloud_{cloud.value}_") for option in backend.options)


def test_backends_are_chosen_by_cloud_name():
    assert backend_class("aws") is AwsBackend
    assert backend_class("gcp") is GcpBackend
    assert backend_class("kubernetes") is KubernetesBackend
    for cloud, message in ((None, "required: cml runner starts runners on cloud machines (--cloud aws"),
                           (Cloud.AZURE.value, "no 'azure' backend (iterative/cml's Terraform backend for it"),
                           ("moon", "no 'moon' backend; available: aws, gcp, kubernetes")):
        with pytest.raises(UsageError) as raised:
            backend_class(cloud)
        assert raised.value.parameter == "cloud" and raised.value.detail.startswith(message)


def test_cloud_options_and_help_come_from_the_backends():
    assert [option.name for option in cloud_options()] == [
        "cloud_aws_key_name", "cloud_aws_security_group", "cloud_aws_subnet",
        "cloud_gcp_project", "cloud_gcp_network", "cloud_gcp_subnet",
        "cloud_kubernetes_namespace", "cloud_kubernetes_context", "cloud_kubernetes_node_selector",
        "cloud_kubernetes_toleration", "cloud_kubernetes_image"]
    help_text = option_help("cloud_type")
    for backend in BACKENDS.values():
        assert f"{backend.name}: {backend.option_help['cloud_type']}" in help_text


def test_region_resolution_is_the_backends():
    environ = {"AWS_DEFAULT_REGION": "eu-north", "AWS_CONFIG_FILE": "/nonexistent"}
    assert AwsBackend.resolve_region(None, environ) == Region("eu-north-1", "AWS_DEFAULT_REGION")
    assert AwsBackend.resolve_region(" us-east ", environ) == Region("us-east-1", "cloud_region")
    assert AwsBackend.resolve_region(None, {"AWS_CONFIG_FILE": "/nonexistent"}) == Region("us-west-1",
                                                                                       "default us-west")
    with pytest.raises(UsageError) as raised:
        AwsBackend.resolve_region("mars", environ)
    assert raised.value.parameter == "cloud_region"
    with pytest.raises(UsageError) as raised:
        AwsBackend.resolve_region(None, {"AWS_REGION": "mars"})
    assert raised.value.parameter is None and "(from AWS_REGION)" in str(raised.value)


@pytest.mark.parametrize("call, parameter", [
    (lambda: AwsBackend.machine_type("huge", None), "cloud_type"),
    (lambda: AwsBackend.machine_type("m", "t5"), "cloud_gpu"),
    (lambda: AwsBackend.parse_image("a:b"), "cloud_image"),
    (lambda: AwsBackend.parse_tags(["aws:x=1"]), "cloud_metadata"),
])
def test_library_errors_name_python_parameters(call, parameter):
    with pytest.raises(UsageError) as raised:
        call()
    assert raised.value.parameter == parameter


def test_sizes_gpus_and_images():
    assert AwsBackend.machine_type(None, None) == "m5.2xlarge"
    assert AwsBackend.machine_type("l+t4", None) == AwsBackend.machine_type("l", "nvidia-tesla-t4") == "g4dn.12xlarge"
    assert AwsBackend.machine_type("g5.xlarge", "a10g") == "g5.xlarge"
    assert AwsBackend.parse_image(None) == AwsImage(owner="amazon", user="ubuntu")
    assert AwsBackend.parse_image("ami-0123456789abcdef0") == AwsImage(image_id="ami-0123456789abcdef0")
    assert AwsBackend.parse_image("ec2-user@amazon:arm64:al2023-*") == AwsImage(
        user="ec2-user", owner="amazon", architecture="arm64", name="al2023-*")


def test_a_backend_takes_only_its_own_options():
    given = {"cloud_aws_subnet": "subnet-1", "cloud_aws_key_name": None}
    assert AwsBackend.own_options(given) == given
    with pytest.raises(UsageError) as raised:
        AwsBackend.own_options({**given, "cloud_gcp_network": "default"})
    assert raised.value.parameter == "cloud_gcp_network"


def test_a_machine_launched_by_a_clock_a_little_ahead_is_listed_as_just_up():
    ahead = datetime.now(timezone.utc) + timedelta(seconds=90)
    machine = Machine("job-1", "cml-a", MachineState.RUNNING, "m", "ns", launched_at=ahead, placement="node node-1")
    [row] = describe_machines([machine])
    assert row["up"] == "0h 00m" and row["placement"] == "node node-1"
