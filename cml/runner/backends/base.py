"""The interface every cloud backend implements, and the machine it reports.

A backend is one module: a :class:`CloudBackend` subclass that knows its cloud's
regions, machine types, images, tag rules and options, and starts, finds and
terminates machines. The cloud-neutral code (:mod:`cml.runner.spec`,
:mod:`cml.runner.launch`, :mod:`cml.cli.runner`) asks it, and nothing else, about the cloud.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, ClassVar

from cml.errors import CmlError, UsageError
from cml.runner.spec import MachineImage, MachineSpec, Region
from cml.runner.startup import MachineHooks, pack_user_data

#: The tag (label) that marks a machine as started by ``cml runner``; its value is the runner name.
RUNNER_TAG = "cml:runner"
REPOSITORY_TAG = "cml:repository"
DEADLINE_TAG = "cml:max-runtime-ends"
LABELS_TAG = "cml:labels"
#: The parameter a region given by the caller comes from.
REGION_PARAMETER = "cloud_region"


class MachineState(str, Enum):
    """A machine's lifecycle state; every backend maps its cloud's states onto these."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"

    def __str__(self) -> str:
        return self.value


#: States of a machine that still costs money.
LIVE_STATES = (MachineState.PENDING, MachineState.RUNNING, MachineState.STOPPING, MachineState.STOPPED)


class CloudError(CmlError):
    """The cloud refused a request, or cannot be reached."""


class CapacityError(CloudError):
    """The cloud has no capacity for this machine now (typically spot)."""


@dataclass(frozen=True)
class Machine:
    """One machine a backend started; ``placement`` says where in the region it runs, when the cloud picks that
    (a Kubernetes node)."""

    id: str
    name: str
    state: MachineState
    instance_type: str
    region: str
    spot: bool = False
    launched_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state_reason: str = ""
    placement: str = ""

    @property
    def live(self) -> bool:
        """Still costing money: not terminated and not on its way there."""
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class PreparedMachine:
    """A :class:`MachineSpec` checked against the cloud (type exists, image found): nothing is running yet.

    ``architecture`` (``x86_64`` or ``arm64``) picks the runner build the forge registers; ``details`` is the
    backend's own."""

    spec: MachineSpec
    image_id: str
    disk_gb: int
    architecture: str = "x86_64"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CloudOption:
    """A launch option only one cloud has, by its Python name (``cloud_aws_subnet``); the command line
    shows it as ``--cloud-aws-subnet`` (and ``aliases`` likewise)."""

    name: str
    metavar: str
    help: str
    aliases: tuple[str, ...] = ()


class CloudBackend(abc.ABC):
    """Starts, finds and terminates runner machines on one cloud, in one region.

    Every method that calls the cloud raises only :class:`CloudError` (and :class:`~cml.errors.UsageError`
    for a value the cloud does not have). Machines are found by their :data:`RUNNER_TAG`, so
    ``list`` and ``stop`` see every machine any launch started, from any CI job.

    The class methods read the user's values without calling the cloud, before the backend is created;
    each raises :class:`~cml.errors.UsageError` naming its own parameter.
    """

    #: The ``--cloud`` value.
    name: ClassVar[str]
    #: The cloud and its machine service, for help texts (``AWS EC2``).
    title: ClassVar[str]
    #: The machine service as messages name it (``EC2``).
    service: ClassVar[str]
    #: The most bytes of startup script (after gzip) the machine accepts at boot.
    user_data_limit: ClassVar[int]
    #: The backend's own launch options, in the order help lists them.
    options: ClassVar[tuple[CloudOption, ...]] = ()
    #: Help for the shared options whose values mean something different on each cloud, by Python name
    #: (``cloud_region``, ``cloud_type``, ``cloud_gpu``, ``cloud_hdd_size``, ``cloud_image``, ``cloud_permission_set``).
    option_help: ClassVar[Mapping[str, str]] = {}
    #: How the startup script powers this cloud's machine off and hears of a spot interruption (empty hooks:
    #: ``shutdown`` on a VM that terminates when powered off, and the instance metadata service).
    machine_hooks: ClassVar[MachineHooks] = MachineHooks()

    @abc.abstractmethod
    def __init__(self, region: str, environ: Mapping[str, str], warn: Callable[[str], None]):
        """A client for ``region`` with the credentials in ``environ``; ``warn`` shows warnings."""

    @classmethod
    @abc.abstractmethod
    def resolve_region(cls, cloud_region: str | None, environ: Mapping[str, str],
                       requested_from: str = REGION_PARAMETER, parameter: str | None = REGION_PARAMETER) -> Region:
        """``cloud_region`` (aliases resolved) when given, else the region the cloud's own tools would use from
        ``environ``, else a default; the :class:`Region` says which. ``requested_from`` says where the caller
        read ``cloud_region``; a bad value is a UsageError naming ``parameter`` (``None``: name
        ``requested_from`` in the message instead)."""

    @classmethod
    @abc.abstractmethod
    def machine_type(cls, cloud_type: str | None, cloud_gpu: str | None) -> str:
        """The cloud's machine type for a size (``m``, ``l``, ``xl``, optionally ``+GPU``) or a native type,
        and a GPU name."""

    @classmethod
    @abc.abstractmethod
    def parse_image(cls, cloud_image: str | None) -> MachineImage:
        """The image reference (the cloud's default image when ``None``)."""

    @classmethod
    @abc.abstractmethod
    def parse_tags(cls, cloud_metadata: Sequence[str]) -> dict[str, str]:
        """``key=value`` items as tags (labels) the cloud accepts; a missing ``=value`` is an empty value."""

    @classmethod
    def own_options(cls, cloud_options: Mapping[str, str | None]) -> dict[str, str | None]:
        """This backend's options among every backend's ``cloud_options``; another cloud's option given a value
        is a UsageError naming it."""
        own = {option.name for option in cls.options}
        foreign = [name for name, value in cloud_options.items() if name not in own and value is not None]
        if foreign:
            raise UsageError(f"not an option of the {cls.name} cloud", parameter=foreign[0])
        return {name: value for name, value in cloud_options.items() if name in own}

    def pack_startup_script(self, script: str) -> bytes:
        """``script`` as the machine's user data: as it is, or gzip-compressed to fit :attr:`user_data_limit`;
        a UsageError naming ``cloud_startup_script`` when even that is too large."""
        return pack_user_data(script, self.user_data_limit, self.service)

    @abc.abstractmethod
    def console_hint(self, machine_id: str) -> str:
        """How the user reads the machine's console output (a command line)."""

    @abc.abstractmethod
    def prepare(self, spec: MachineSpec) -> PreparedMachine:
        """Check ``spec`` and resolve its image, without starting anything."""

    @abc.abstractmethod
    def start(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str) -> Machine:
        """Start one machine that runs ``user_data`` at boot and terminates itself when it powers off.
        ``token`` makes the request idempotent: a retried start never starts a second machine."""

    @abc.abstractmethod
    def describe(self, machine_id: str) -> Machine | None:
        """The machine's current state, or ``None`` once the cloud has forgotten it."""

    @abc.abstractmethod
    def terminate(self, machine_ids: list[str]) -> None:
        """Terminate the machines (and the disks that go with them)."""

    @abc.abstractmethod
    def machines(self, name: str | None = None, live_only: bool = True) -> list[Machine]:
        """The machines started by ``cml runner`` (named ``name``, if given), oldest first."""
