"""What to launch, in terms every cloud shares: the machine, its region and image, and the runner's name and labels.

What a value means on one cloud (``m`` → ``m5.2xlarge``, an image reference, a region
alias) is that cloud's backend's to say: :class:`~cml.runner.backends.base.CloudBackend`.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from cml.errors import UsageError

RUNNER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DEFAULT_LABELS = "cml"
DEFAULT_SSH_USER = "ubuntu"


@dataclass(frozen=True)
class Region:
    """The region to work in, and where it came from (an option, an environment variable, a profile…)."""

    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


@dataclass(frozen=True)
class MachineImage:
    """A machine image as the user named it; each backend parses its own kind (a subclass).

    ``user`` is the image's login user, when the reference names one."""

    user: str | None = None


@dataclass(frozen=True)
class MachineSpec:
    """Everything a backend needs to start one runner machine.

    ``cloud_options`` holds the backend's own options (see ``CloudBackend.options``) by Python name;
    ``max_runtime`` (seconds, 0 = none) is for clouds that end a machine at a deadline themselves."""

    region: str
    instance_type: str
    image: MachineImage
    disk_gb: int | None = None
    spot: bool = False
    spot_price: float | None = None
    spot_fallback: bool = False
    permission_set: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    cloud_options: Mapping[str, str | None] = field(default_factory=dict)
    max_runtime: int = 0


def parse_labels(labels: str | None) -> tuple[str, ...]:
    """``"a,b"`` → ``("a", "b")``; the default is ``cml``."""
    parsed = tuple(dict.fromkeys(part.strip() for part in (labels or DEFAULT_LABELS).split(",") if part.strip()))
    bad = [label for label in parsed if not LABEL_PATTERN.fullmatch(label)]
    if not parsed or bad:
        raise UsageError(f"'{bad[0] if bad else labels}' is not a runner label: use letters, digits, '.', '_' "
                         f"and '-'", parameter="labels")
    return parsed


def random_name() -> str:
    """``cml-`` and ten random lowercase letters and digits, as iterative/cml names runners."""
    alphabet = string.ascii_lowercase + string.digits
    return "cml-" + "".join(secrets.choice(alphabet) for _ in range(10))


def check_name(name: str) -> str:
    """``name`` when it is a valid runner name: up to 64 letters, digits, ``.``, ``_`` and ``-``."""
    if not RUNNER_NAME_PATTERN.fullmatch(name):
        raise UsageError(f"'{name}' is not a runner name: up to 64 letters, digits, '.', '_' and '-'",
                         parameter="name")
    return name


def ssh_public_key(cloud_ssh_private: str | None) -> str:
    """The OpenSSH public key of a PEM or OpenSSH private key, for the machine's ``authorized_keys``; the
    private key itself never leaves this process."""
    if not cloud_ssh_private or not cloud_ssh_private.strip():
        return ""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    data = cloud_ssh_private.strip().encode() + b"\n"
    try:
        key: PrivateKeyTypes
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (ValueError, TypeError, AttributeError):
        raise UsageError("not an unencrypted RSA, ECDSA or Ed25519 private key in PEM or OpenSSH format",
                         parameter="cloud_ssh_private") from None
    return public.decode() + " cml-runner"


def decode_startup_script(cloud_startup_script: str | None) -> bytes:
    """A base64-encoded shell script, as iterative/cml takes it, decoded."""
    if not cloud_startup_script or not cloud_startup_script.strip():
        return b""
    try:
        script = base64.b64decode("".join(cloud_startup_script.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("not base64; encode the script first, for example with: base64 -w0 setup.sh",
                         parameter="cloud_startup_script") from None
    if not script.strip():
        raise UsageError("the decoded script is empty", parameter="cloud_startup_script")
    return script
