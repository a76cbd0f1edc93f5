"""The interface every cloud backend implements, and the machine it reports."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from cml.errors import CmlError
from cml.runner.spec import MachineSpec

#: The tag (label) that marks a machine as started by ``cml runner``; its value is the runner name.
RUNNER_TAG = "cml:runner"
REPOSITORY_TAG = "cml:repository"
DEADLINE_TAG = "cml:max-runtime-ends"
LIVE_STATES = ("pending", "running", "stopping", "stopped")


class CloudError(CmlError):
    """The cloud refused a request, or cannot be reached."""


class CapacityError(CloudError):
    """The cloud has no capacity for this machine now (typically spot)."""


@dataclass(frozen=True)
class Machine:
    """One machine a backend started."""

    id: str
    name: str
    state: str
    instance_type: str
    region: str
    spot: bool = False
    launched_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state_reason: str = ""

    @property
    def live(self) -> bool:
        """Still costing money: not terminated and not on its way there."""
        return self.state in LIVE_STATES


@dataclass(frozen=True)
class PreparedMachine:
    """A :class:`MachineSpec` checked against the cloud (type exists, image found): nothing is running yet."""

    spec: MachineSpec
    image_id: str
    image_name: str
    disk_gb: int
    details: dict = field(default_factory=dict)


class CloudBackend(abc.ABC):
    """Starts, finds and terminates runner machines on one cloud, in one region.

    Every method raises only :class:`CloudError`. Machines are found by their
    :data:`RUNNER_TAG`, so ``cml runner list`` and ``stop`` see every machine any
    ``cml runner launch`` started, from any CI job.
    """

    name: ClassVar[str]

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
