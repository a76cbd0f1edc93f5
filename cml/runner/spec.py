"""What to launch: iterative/cml's cloud options, resolved to concrete values.

Region aliases, ``m``/``l``/``xl`` sizes and GPU names are iterative/cml's (its
Terraform provider's AWS table), plus the GPUs AWS offers today.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field

from cml.errors import UsageError

REGION_ALIASES = {"us-east": "us-east-1", "us-west": "us-west-1", "eu-west": "eu-west-1", "eu-north": "eu-north-1"}
DEFAULT_REGION = "us-west"

#: ``--cloud-type`` size → AWS instance type, by ``--cloud-gpu`` (``None``: no GPU).
SIZE_TYPES = {
    None: {"m": "m5.2xlarge", "l": "m5.8xlarge", "xl": "m5.16xlarge"},
    "k80": {"m": "p2.xlarge", "l": "p2.8xlarge", "xl": "p2.16xlarge"},
    "v100": {"m": "p3.2xlarge", "l": "p3.8xlarge", "xl": "p3.16xlarge"},
    "t4": {"m": "g4dn.xlarge", "l": "g4dn.12xlarge", "xl": "g4dn.metal"},
    "a10g": {"m": "g5.xlarge", "l": "g5.12xlarge", "xl": "g5.48xlarge"},
    "l4": {"m": "g6.xlarge", "l": "g6.12xlarge", "xl": "g6.48xlarge"},
    "l40s": {"m": "g6e.xlarge", "l": "g6e.12xlarge", "xl": "g6e.48xlarge"},
    "a100": {"m": "p4d.24xlarge", "l": "p4d.24xlarge", "xl": "p4de.24xlarge"},
    "h100": {"m": "p5.48xlarge", "l": "p5.48xlarge", "xl": "p5.48xlarge"},
}
#: Names users (and GCP/Azure habits) give the same GPU.
GPU_ALIASES = {"tesla": "v100", "nvidia-tesla-k80": "k80", "nvidia-tesla-v100": "v100", "nvidia-tesla-t4": "t4",
               "nvidia-tesla-a100": "a100", "nvidia-l4": "l4", "nvidia-a10g": "a10g", "nvidia-h100": "h100",
               "nogpu": None, "none": None}
#: Instance families of each GPU, to reject a native ``--cloud-type`` that contradicts ``--cloud-gpu``.
GPU_FAMILIES = {gpu: {t.split(".")[0] for t in sizes.values()} for gpu, sizes in SIZE_TYPES.items() if gpu}
DEFAULT_SIZE = "m"
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
RUNNER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def resolve_region(region: str | None, source: str = "--cloud-region") -> str:
    """``us-west`` → ``us-west-1``; AWS region names pass through. ``source`` names where ``region`` came from,
    for the error."""
    value = (region or DEFAULT_REGION).strip()
    value = REGION_ALIASES.get(value, value)
    if not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", value):
        message = (f"'{region}' is not an AWS region (like us-east-1) or one of {', '.join(REGION_ALIASES)}")
        if source == "--cloud-region":
            raise UsageError(message, parameter="--cloud-region")
        raise UsageError(f"{message} (from {source}); fix it or pass --cloud-region")
    return value


@dataclass(frozen=True)
class Region:
    """The region to work in, and where it came from (``--cloud-region``, ``AWS_REGION``, a profile…)."""

    name: str
    source: str

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


def choose_region(option: str | None, environ) -> Region:
    """``--cloud-region`` when given; otherwise boto3's own choice (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
    profile's region), so that cml works where the AWS CLI and SDK do; otherwise iterative/cml's ``us-west``."""
    if option is not None and option.strip():
        return Region(resolve_region(option), "--cloud-region")
    from cml.aws import configured_region

    found = configured_region(environ)
    if found is not None:
        return Region(resolve_region(*found), found[1])
    return Region(resolve_region(DEFAULT_REGION), f"default {DEFAULT_REGION}")


def resolve_gpu(gpu: str | None) -> str | None:
    """``--cloud-gpu`` as a key of :data:`SIZE_TYPES`, or ``None`` for no GPU."""
    if gpu is None or not gpu.strip():
        return None
    name = gpu.strip().lower()
    name = GPU_ALIASES.get(name, name)
    if name is not None and name not in SIZE_TYPES:
        known = ", ".join(g for g in SIZE_TYPES if g)
        raise UsageError(f"unknown GPU '{gpu}'; use one of {known}, or nogpu", parameter="--cloud-gpu")
    return name


def resolve_instance_type(cloud_type: str | None, gpu: str | None) -> str:
    """``--cloud-type`` (a size like ``m``, ``l+t4`` or a native type like ``g4dn.xlarge``) and ``--cloud-gpu``
    as an AWS instance type."""
    value = (cloud_type or DEFAULT_SIZE).strip()
    size, _, size_gpu = value.partition("+")
    if size in SIZE_TYPES[None]:
        chosen = resolve_gpu(size_gpu) if size_gpu else resolve_gpu(gpu)
        return SIZE_TYPES[chosen][size]
    if not INSTANCE_TYPE_PATTERN.fullmatch(value):
        raise UsageError(f"'{cloud_type}' is not an instance type (like g4dn.xlarge) or a size "
                         f"({', '.join(SIZE_TYPES[None])}, optionally +GPU like m+t4)", parameter="--cloud-type")
    wanted = resolve_gpu(gpu)
    family = value.split(".")[0]
    if wanted and family not in GPU_FAMILIES[wanted]:
        raise UsageError(f"--cloud-type {value} has no {wanted} GPU ({wanted} is on "
                         f"{', '.join(sorted(GPU_FAMILIES[wanted]))}); drop --cloud-gpu or pick a matching type",
                         parameter="--cloud-gpu")
    return value


def parse_metadata(values) -> dict[str, str]:
    """``--cloud-metadata key=value`` (repeatable) as tags; a missing ``=value`` is an empty value."""
    tags = {}
    for item in values or ():
        key, _, value = item.partition("=")
        key = key.strip()
        if not key or key.lower().startswith("aws:") or len(key) > 128 or len(value) > 256:
            raise UsageError(f"'{item}' is not a tag: use key=value, keys up to 128 characters not starting "
                             f"with aws:, values up to 256", parameter="--cloud-metadata")
        tags[key] = value
    return tags


def parse_labels(value: str | None) -> tuple[str, ...]:
    """``--labels a,b`` → ``("a", "b")``; the default is ``cml``."""
    labels = tuple(dict.fromkeys(part.strip() for part in (value or "cml").split(",") if part.strip()))
    bad = [label for label in labels if not LABEL_PATTERN.fullmatch(label)]
    if not labels or bad:
        raise UsageError(f"'{bad[0] if bad else value}' is not a runner label: use letters, digits, '.', '_' "
                         f"and '-'", parameter="--labels")
    return labels


def random_name() -> str:
    """``cml-`` and ten random lowercase letters and digits, as iterative/cml names runners."""
    alphabet = string.ascii_lowercase + string.digits
    return "cml-" + "".join(secrets.choice(alphabet) for _ in range(10))


def check_name(name: str) -> str:
    if not RUNNER_NAME_PATTERN.fullmatch(name):
        raise UsageError(f"'{name}' is not a runner name: up to 64 letters, digits, '.', '_' and '-'",
                         parameter="--name")
    return name


@dataclass(frozen=True)
class ImageRef:
    """A machine image: an id (``ami-…``), or the newest image whose name matches ``name`` from ``owner``."""

    image_id: str | None = None
    owner: str | None = None
    architecture: str | None = None
    name: str | None = None
    user: str | None = None

    #: Ubuntu with NVIDIA drivers, Docker and the NVIDIA container toolkit, maintained by AWS, by architecture.
    DEFAULT_NAMES = {"x86_64": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *",
                     "arm64": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"}

    def name_for(self, architecture: str) -> str:
        """The name pattern to search, for an instance of ``architecture``."""
        return self.name or self.DEFAULT_NAMES[architecture]

    @classmethod
    def parse(cls, value: str | None) -> ImageRef:
        """``ami-…``; or iterative's ``[user@]owner:architecture:name-pattern`` (any part may be empty);
        or a bare name pattern, searched among the account's own and Amazon's images."""
        if not value or not value.strip():
            return cls(owner="amazon", user="ubuntu")
        text = value.strip()
        if re.fullmatch(r"ami-[0-9a-f]{8,17}", text):
            return cls(image_id=text)
        user, _, rest = text.rpartition("@") if "@" in text.split(":")[0] else ("", "", text)
        parts = rest.split(":", 2)
        if len(parts) == 3:
            owner, architecture, name = (p.strip() or None for p in parts)
        elif len(parts) == 1:
            owner, architecture, name = None, None, parts[0].strip()
        else:
            raise UsageError(f"'{value}' is not an image: use ami-ID or [user@]owner:architecture:name-pattern",
                             parameter="--cloud-image")
        if not name:
            raise UsageError(f"'{value}' names no image pattern", parameter="--cloud-image")
        return cls(owner=owner, architecture=architecture, name=name, user=user or None)


@dataclass(frozen=True)
class MachineSpec:
    """Everything a backend needs to start one runner machine."""

    region: str
    instance_type: str
    image: ImageRef
    disk_gb: int | None = None
    spot: bool = False
    spot_price: float | None = None
    spot_fallback: bool = False
    security_group: str | None = None
    subnet: str | None = None
    instance_profile: str | None = None
    key_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def ssh_public_key(private_pem: str | None) -> str:
    """The OpenSSH public key of ``--cloud-ssh-private`` (a PEM or OpenSSH private key), for the machine's
    ``authorized_keys``; the private key itself never leaves this process."""
    if not private_pem or not private_pem.strip():
        return ""
    from cryptography.hazmat.primitives import serialization

    data = private_pem.strip().encode() + b"\n"
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except (ValueError, TypeError, AttributeError):
        raise UsageError("not an unencrypted RSA, ECDSA or Ed25519 private key in PEM or OpenSSH format",
                         parameter="--cloud-ssh-private") from None
    return public.decode() + " cml-runner"


def decode_startup_script(value: str | None) -> bytes:
    """``--cloud-startup-script``: a base64-encoded shell script, as iterative/cml takes it."""
    if not value or not value.strip():
        return b""
    import base64
    import binascii

    try:
        script = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError("not base64; encode the script first, for example with: base64 -w0 setup.sh",
                         parameter="--cloud-startup-script") from None
    if not script.strip():
        raise UsageError("the decoded script is empty", parameter="--cloud-startup-script")
    return script
