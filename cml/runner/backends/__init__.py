"""Cloud backends by ``--cloud`` name. A new backend is one module and one line here."""

from __future__ import annotations

import importlib
from typing import Callable
from collections.abc import Mapping

from cml.errors import UsageError
from cml.runner.backends.base import CloudBackend

BACKENDS = {"aws": "cml.runner.backends.aws:AwsBackend"}
#: Clouds iterative/cml provisioned through Terraform that have no backend here yet.
NOT_AVAILABLE = ("azure", "gcp", "kubernetes")


def open_backend(cloud: str, region: str, environ: Mapping[str, str], warn: Callable[[str], None]) -> CloudBackend:
    """The backend for ``--cloud``, working in ``region``."""
    if cloud not in BACKENDS:
        hint = " (iterative/cml's Terraform backend for it is not part of this tool)" if cloud in NOT_AVAILABLE else ""
        raise UsageError(f"no '{cloud}' backend{hint}; available: {', '.join(BACKENDS)}", parameter="--cloud")
    module, _, attribute = BACKENDS[cloud].partition(":")
    return getattr(importlib.import_module(module), attribute)(region, environ, warn)
