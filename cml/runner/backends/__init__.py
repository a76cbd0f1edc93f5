"""Cloud backends by ``cloud`` name. A new backend is one module and one line in :data:`BACKENDS`.

Backend modules are imported here, so they import their cloud's SDK only inside functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Callable

from cml.errors import UsageError
from cml.runner.backends.aws import AwsBackend
from cml.runner.backends.base import CloudBackend, CloudOption
from cml.runner.backends.gcp import GcpBackend
from cml.runner.backends.kubernetes import KubernetesBackend


class Cloud(str, Enum):
    """The clouds iterative/cml could provision runners on; :data:`BACKENDS` says which have a backend here."""

    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    KUBERNETES = "kubernetes"

    def __str__(self) -> str:
        return self.value


BACKENDS: dict[Cloud, type[CloudBackend]] = {Cloud.AWS: AwsBackend, Cloud.GCP: GcpBackend,
                                               Cloud.KUBERNETES: KubernetesBackend}
#: Where ``list`` and ``stop`` look when not told.
DEFAULT_CLOUD = Cloud.AWS


def backend_class(cloud: str | None) -> type[CloudBackend]:
    """The backend of ``cloud`` (required: there is no default cloud to start machines on)."""
    available = ", ".join(BACKENDS)
    if cloud is None:
        raise UsageError(f"required: cml runner starts runners on cloud machines (--cloud {available}); to serve "
                         f"jobs from this machine, install the forge's own runner here instead", parameter="cloud")
    known = {member.value: member for member in Cloud}
    if known.get(cloud) not in BACKENDS:
        # iterative/cml provisioned these through Terraform.
        hint = " (iterative/cml's Terraform backend for it is not part of this tool)" if cloud in known else ""
        raise UsageError(f"no '{cloud}' backend{hint}; available: {available}", parameter="cloud")
    return BACKENDS[known[cloud]]


def open_backend(cloud: str, region: str, environ: Mapping[str, str], warn: Callable[[str], None]) -> CloudBackend:
    """The backend of ``cloud``, working in ``region``."""
    return backend_class(cloud)(region, environ, warn)


def cloud_options() -> list[CloudOption]:
    """Every backend's own launch options, each once, in the order the backends list them."""
    options: dict[str, CloudOption] = {}
    for backend in BACKENDS.values():
        for option in backend.options:
            options.setdefault(option.name, option)
    return list(options.values())


def option_help(name: str) -> str:
    """Help for a shared option whose meaning depends on the cloud: each backend's text, prefixed by its cloud's
    name when more than one backend has one."""
    texts = {cloud: backend.option_help[name] for cloud, backend in BACKENDS.items() if name in backend.option_help}
    if len(texts) == 1:
        return next(iter(texts.values()))
    return "; ".join(f"{cloud}: {text.rstrip('.')}" for cloud, text in texts.items())


def titles() -> str:
    """The clouds machines can run on, for help texts (``AWS EC2``)."""
    return ", ".join(backend.title for backend in BACKENDS.values())
