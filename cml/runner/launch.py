"""Launch a runner machine, and find or stop the ones already launched.

:class:`RunnerLauncher` registers the runner with the forge, starts the machine with
the registration material in its startup script, and waits until the forge shows the
runner online; with ``replicas`` it does so for several runners at once. Whatever goes wrong after the first request that creates something
(an error from the forge or the cloud, a time-out, Ctrl-C, SIGTERM from a cancelled CI
job, a bug here), the machine is terminated and the registration removed before the
error is reported (for every replica); what could not be removed is named, with the command that removes it.
"""

from __future__ import annotations

import signal
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from cml.errors import CmlError, UsageError
from cml.forges.base import Forge, RunnerRegistration, SelfHostedRunner
from cml.forges.errors import ForgeError
from cml.runner.backends.base import (
    DEADLINE_TAG,
    LABELS_TAG,
    REPOSITORY_TAG,
    RUNNER_TAG,
    CloudBackend,
    CloudError,
    Machine,
    MachineState,
)
from cml.runner.spec import DEFAULT_SSH_USER, MachineSpec, check_name
from cml.runner.startup import DEFAULT_WORKDIR, StartupSettings, render_script
from cml.signals import stop_signals

TERMINATE_ATTEMPTS = 3
#: Machine states from which the runner can no longer come online.
STOPPED_STATES = (MachineState.STOPPING, MachineState.STOPPED)


class LaunchError(CmlError):
    """The runner could not be launched; everything created on the way has been removed (or is named)."""


class LaunchInterrupted(LaunchError):
    """Ctrl-C or SIGTERM during the launch."""

    exit_code = 130


@dataclass(frozen=True)
class LaunchOptions:
    """The runner side of ``cml runner launch``: names, labels and the machine's lifetime rules (seconds; 0 = never).

    ``replicas`` runners are launched at once, named ``name-1`` … ``name-N`` when there is more than one."""

    name: str
    labels: tuple[str, ...]
    idle_timeout: int = 300
    single: bool = False
    max_runtime: int = 3 * 86400
    reuse: bool = False
    reuse_idle: bool = False
    launch_timeout: int = 600
    workdir: str = DEFAULT_WORKDIR
    ssh_user: str = DEFAULT_SSH_USER
    ssh_public_key: str = ""
    user_script: bytes = b""
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.single and (self.reuse or self.reuse_idle):
            raise UsageError("--single cannot be combined with --reuse or --reuse-idle", parameter="single")
        if self.replicas < 1:
            raise UsageError(f"{self.replicas} is not a number of runners: launch at least one", parameter="replicas")
        if self.replicas > 1 and (self.reuse or self.reuse_idle):
            raise UsageError("reusing a runner launches none: it cannot be combined with more than one replica",
                             parameter="replicas")
        for replica in self.replica_names():
            check_name(replica)

    def replica_names(self) -> list[str]:
        """The runners' names: ``name`` alone, or ``name-1`` … ``name-N``."""
        if self.replicas == 1:
            return [self.name]
        return [f"{self.name}-{index}" for index in range(1, self.replicas + 1)]

    def replica_options(self) -> list[LaunchOptions]:
        """One set of options per runner, each for a single replica of its own name."""
        if self.replicas == 1:
            return [self]
        return [replace(self, name=name, replicas=1) for name in self.replica_names()]


@dataclass(frozen=True)
class LaunchResult:
    """The runner that serves the labels: a new one on ``machine``, or a reused one (``machine`` is ``None``)."""

    runner: SelfHostedRunner
    machine: Machine | None = None


@dataclass(frozen=True)
class Cleanup:
    """What :meth:`RunnerLauncher.remove` did: the machines it terminated, whether it removed a runner
    registration, and what it could not remove."""

    terminated: list[str]
    unregistered: bool
    left: list[str]
    #: How many runners' registrations were removed (when ``unregistered``).
    registrations: int = 1

    @classmethod
    def combined(cls, cleanups: list[Cleanup]) -> Cleanup:
        """The cleanups of several replicas as one."""
        removed = sum(1 for cleanup in cleanups if cleanup.unregistered)
        return cls([machine for cleanup in cleanups for machine in cleanup.terminated], removed > 0,
                   [item for cleanup in cleanups for item in cleanup.left], max(removed, 1))

    def report(self, name: str) -> list[str]:
        """Clauses for the error message that say what happened, and nothing when nothing was there to remove."""
        removed = ["the machine" if len(self.terminated) == 1 else f"{len(self.terminated)} machines"] \
            if self.terminated else []
        registrations = ("the runner registration" if self.registrations == 1
                         else f"{self.registrations} runner registrations")
        removed += [registrations] if self.unregistered else []
        plural = len(removed) > 1 or len(self.terminated) > 1 or (self.unregistered and self.registrations > 1)
        clauses = [f"{' and '.join(removed)} {'were' if plural else 'was'} removed"] if removed else []
        if self.left:
            clauses.append(f"could not remove {' and '.join(self.left)}: run 'cml runner stop {name}'")
        return clauses


class _Interrupt:
    """The stop signals' handler during a launch: raises KeyboardInterrupt where the main thread is, and remembers
    the signal, because an exception raised while Python runs a weakref callback or a finalizer is printed and
    dropped ("Exception ignored in…"); :meth:`check`, between the launch's steps, raises it again then."""

    def __init__(self) -> None:
        self.received: str | None = None

    def __call__(self, number: int, _frame: object) -> None:
        self.received = signal.Signals(number).name
        raise KeyboardInterrupt(self.received)

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(self.received)


@dataclass
class _Replica:
    """One runner of a launch, and what has been created for it so far."""

    options: LaunchOptions
    registration: RunnerRegistration | None = None
    machine: Machine | None = None
    runner: SelfHostedRunner | None = field(default=None, compare=False)


class RunnerLauncher:
    """Registers a runner with ``forge`` and starts its machine on ``backend``; see the module docstring."""

    def __init__(self, forge: Forge, backend: CloudBackend, warn: Callable[[str], None],
                 poll_interval: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.forge = forge
        self.backend = backend
        self.warn = warn
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep

    def reusable(self, options: LaunchOptions) -> SelfHostedRunner | None:
        """With ``--reuse``: a runner of this name, or an online one with every label; with ``--reuse-idle``:
        an online, idle one with every label. Without either, a runner of this name is an error."""
        runners = self.forge.runners()
        same_name = next((r for r in runners if r.name == options.name), None)
        if same_name and options.reuse:
            return same_name
        if same_name:
            raise LaunchError(f"runner name {options.name} is already in use; pass another --name, --reuse, "
                              f"or remove it with: cml runner stop {options.name}")
        wanted = {label.lower() for label in options.labels}
        for runner in runners:
            matches = runner.online and wanted <= {label.lower() for label in runner.labels}
            if matches and (options.reuse or (options.reuse_idle and not runner.busy)):
                return runner
        return None

    def launch(self, options: LaunchOptions, spec: MachineSpec) -> LaunchResult:
        """Reuse a runner if asked and possible; otherwise register one, start its machine and wait until the
        runner is online (at most ``options.launch_timeout`` seconds)."""
        return self.launch_replicas(options, spec)[0]

    def launch_replicas(self, options: LaunchOptions, spec: MachineSpec) -> list[LaunchResult]:
        """:meth:`launch` for ``options.replicas`` runners at once: every one registered and started, then
        awaited together. If any fails, all of them are removed."""
        if options.replicas == 1:
            reused = self.reusable(options)
            if reused is not None:
                return [LaunchResult(reused)]
        else:
            taken = {runner.name for runner in self.forge.runners()}
            for name in options.replica_names():
                if name in taken:
                    raise LaunchError(f"runner name {name} is already in use; pass another --name, or remove it "
                                      f"with: cml runner stop {name}")
        prepared = self.backend.prepare(spec)
        # A script too large even without the registration material fails here, before any change.
        self.backend.pack_startup_script(render_script(self._settings(options, spec, None)))
        replicas: list[_Replica] = []
        interrupt = _Interrupt()
        try:
            with stop_signals(interrupt):
                for replica_options in options.replica_options():
                    interrupt.check()
                    replica = _Replica(replica_options)
                    replicas.append(replica)
                    replica.registration = self.forge.register_runner(
                        replica_options.name, options.labels, ephemeral=options.single,
                        architecture=prepared.architecture)
                    script = render_script(self._settings(replica_options, spec, replica.registration))
                    replica.machine = self.backend.start(prepared, self.backend.pack_startup_script(script),
                                                         self._tags(replica_options, spec), token=uuid.uuid4().hex)
                self._wait_until_online(options, replicas, interrupt.check)
            return [LaunchResult(replica.runner, replica.machine) for replica in replicas if replica.runner]
        except BaseException as error:
            cleanup = Cleanup.combined([self.remove(replica.options.name, replica.registration, replica.machine)
                                        for replica in replicas])
            raise self._failure(error, " ".join(options.replica_names()), cleanup) from None

    def _settings(self, options: LaunchOptions, spec: MachineSpec,
                  registration: RunnerRegistration | None) -> StartupSettings:
        return StartupSettings(
            forge=self.forge.name, name=options.name, labels=options.labels,
            url=registration.url if registration else "", registration=registration.variables if registration else {},
            idle_timeout=options.idle_timeout, single=options.single, max_runtime=options.max_runtime,
            spot=spec.spot, workdir=options.workdir, ssh_user=options.ssh_user,
            ssh_public_key=options.ssh_public_key, user_script=options.user_script, hooks=self.backend.machine_hooks)

    def _tags(self, options: LaunchOptions, spec: MachineSpec) -> dict[str, str]:
        deadline = "never"
        if options.max_runtime:
            ends = datetime.now(timezone.utc) + timedelta(seconds=options.max_runtime)
            deadline = ends.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**spec.tags, RUNNER_TAG: options.name,
                REPOSITORY_TAG: f"{self.forge.name}:{self.forge.repository}",
                LABELS_TAG: ",".join(options.labels), DEADLINE_TAG: deadline}

    def _find(self, registration: RunnerRegistration) -> SelfHostedRunner | None:
        if registration.runner_id is not None:
            return self.forge.runner(registration.runner_id)
        return next(iter(self.forge.runners(registration.name)), None)

    def _wait_until_online(self, options: LaunchOptions, replicas: list[_Replica],
                           check_interrupt: Callable[[], None] = lambda: None) -> None:
        """Poll until every replica's runner is online (setting ``replica.runner``); a machine that stops first,
        or the launch timeout, is a LaunchError; ``check_interrupt`` raises if the launch was interrupted."""
        deadline = self.clock() + options.launch_timeout
        delay = min(0.25, self.poll_interval)
        while True:
            check_interrupt()
            waiting: tuple[_Replica, Machine, Machine] | None = None
            for replica in replicas:
                if replica.runner is not None or replica.registration is None or replica.machine is None:
                    continue
                name, machine = replica.options.name, replica.machine
                runner = self._find(replica.registration)
                if runner is not None and runner.online:
                    replica.runner = runner
                    continue
                current = self.backend.describe(machine.id)
                if current is None or not current.live or current.state in STOPPED_STATES:
                    state = current.state.value if current else "gone"
                    reason = f" ({current.state_reason})" if current and current.state_reason else ""
                    raise LaunchError(f"machine {machine.id} is {state}{reason} before runner {name} came "
                                      f"online; its console output ({self.backend.console_hint(machine.id)}) and "
                                      f"/opt/cml-runner/cml-runner.log say why")
                waiting = waiting or (replica, machine, current)
            if waiting is None:
                return
            remaining = deadline - self.clock()
            if remaining <= 0:
                replica, machine, current = waiting
                reason = f" ({current.state_reason})" if current.state_reason else ""
                raise LaunchError(f"runner {replica.options.name} did not come online within "
                                  f"{options.launch_timeout} s (--launch-timeout); machine {machine.id} is "
                                  f"{current.state.value}{reason}")
            self.sleep(min(delay, remaining))
            delay = min(delay * 2, self.poll_interval)

    def remove(self, name: str, registration: RunnerRegistration | None, machine: Machine | None) -> Cleanup:
        """Terminate ``machine`` and remove the runner's registration, shielded from further Ctrl-C;
        returns what was removed and what could not be."""
        terminated: list[str] = []
        left: list[str] = []
        unregistered = False

        def refuse(number: int, _frame: object) -> None:
            self.warn("still removing the machine and the runner registration; wait a moment")

        with stop_signals(refuse):
            machines = [machine] if machine is not None else []
            if machine is None and registration is not None:
                # A start whose answer was lost may still have started machines: find them by their tag.
                machines = self._machines_named(name)
            for candidate in machines:
                failure: CloudError | None = None
                for attempt in range(TERMINATE_ATTEMPTS):
                    try:
                        self.backend.terminate([candidate.id])
                        terminated.append(candidate.id)
                        failure = None
                        break
                    except CloudError as error:
                        failure = error
                        if attempt + 1 < TERMINATE_ATTEMPTS:
                            self.sleep(min(2.0 ** attempt, self.poll_interval))
                if failure is not None:
                    left.append(f"instance {candidate.id} ({failure})")
            if registration is not None:
                try:
                    ids = ([registration.runner_id] if registration.runner_id is not None
                           else [r.id for r in self.forge.runners(name)])
                    for runner_id in ids:
                        self.forge.delete_runner(runner_id)
                    unregistered = bool(ids)
                except ForgeError as error:
                    left.append(f"runner registration {name} ({error})")
        return Cleanup(terminated, unregistered, left)

    def _machines_named(self, name: str) -> list[Machine]:
        try:
            return self.backend.machines(name)
        except CloudError as error:
            self.warn(f"could not check for a machine named {name}: {error}")
            return []

    @staticmethod
    def _failure(error: BaseException, name: str, cleanup: Cleanup) -> CmlError:
        kind: type[LaunchError] = LaunchError
        if isinstance(error, UsageError):
            # Still a bad value: keep naming its parameter, so the command line shows the option.
            return UsageError("; ".join([error.detail, *cleanup.report(name)]), parameter=error.parameter)
        if isinstance(error, KeyboardInterrupt):
            message, kind = "interrupted", LaunchInterrupted
        elif isinstance(error, CmlError):
            message = str(error)
        else:
            message = f"unexpected {type(error).__name__}: {error}"
        return kind("; ".join([message, *cleanup.report(name)]))


@dataclass(frozen=True)
class StopResult:
    """What :func:`stop_runners` did, and which names it found no machine for."""

    terminated: list[Machine]
    already_gone: list[Machine]
    removed: list[str]
    missing: list[str]
    kept: list[str]


def stop_runners(backend: CloudBackend, forge: Forge | None, names: list[str] | None,
                 warn: Callable[[str], None], forget_registrations: bool = False) -> StopResult:
    """Terminate the live machines named ``names`` (every one when ``None``) and, with a ``forge``, remove
    their runner registrations.

    A name whose machine the cloud still lists as terminated counts as found. A name with no machine at all
    is ``missing``: its registration is removed only with ``forget_registrations`` (the machine may run in
    another region or cloud, and removing its registration would leave it running unnoticed), else ``kept``."""
    terminated: list[Machine] = []
    gone: list[Machine] = []
    missing: list[str] = []
    if names is None:
        terminated = backend.machines()
    else:
        for name in dict.fromkeys(names):
            found = backend.machines(name, live_only=False)
            live = [m for m in found if m.live]
            terminated += live
            gone += [] if live else found
            missing += [] if found else [name]
    backend.terminate([m.id for m in terminated])
    removed: list[str] = []
    kept: list[str] = []
    if forge is not None:
        wanted = {m.name for m in terminated + gone} | (set(missing) if forget_registrations else set())
        for runner in forge.runners():
            if runner.name in wanted:
                try:
                    forge.delete_runner(runner.id)
                    removed.append(runner.name)
                except ForgeError as error:
                    warn(f"could not remove runner registration {runner.name}: {error}")
            elif runner.name in missing:
                kept.append(runner.name)
    return StopResult(terminated, gone, removed, missing, list(dict.fromkeys(kept)))


def _age(launched: datetime | None, now: datetime) -> str:
    if launched is None:
        return ""
    # a cloud's clock a little ahead of this machine's is not a negative age
    minutes = max(0, int((now - launched).total_seconds() // 60))
    return f"{minutes // 1440}d {minutes // 60 % 24}h" if minutes >= 1440 else f"{minutes // 60}h {minutes % 60:02d}m"


def describe_machines(machines: list[Machine]) -> list[dict[str, str]]:
    """One row per machine for ``cml runner list``; a ``placement`` column only when a machine has one."""
    now = datetime.now(timezone.utc)
    rows = [{"name": m.name, "instance": m.id, "type": m.instance_type, "market": "spot" if m.spot else "on-demand",
             "state": m.state.value, "up": _age(m.launched_at, now) if m.live else "",
             "launched": m.launched_at.strftime("%Y-%m-%dT%H:%M:%SZ") if m.launched_at else "",
             "max runtime ends": m.tags.get(DEADLINE_TAG, ""), "repository": m.tags.get(REPOSITORY_TAG, "")}
            for m in machines]
    if any(m.placement for m in machines):
        for row, machine in zip(rows, machines):
            row["placement"] = machine.placement
    return rows
