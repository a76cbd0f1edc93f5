"""Servers the tests run as subprocesses (moto, MLflow) and short commands they run per request (git http-backend).

Each starts in its own session, so it and everything it starts can be found and stopped together. A server is ready
when its health URL answers 2xx: on a loaded machine a starting server refuses or resets connections, times out
while reading, answers 5xx or cuts its answer short, and all of that only means "not yet". It is stopped with SIGTERM
and, after a grace period, SIGKILL, to every process of its session and every descendant, including those that
moved to a session of their own; a process is known by its pid and start time, so a reused pid is never signalled.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
import contextlib

#: How long a server may take to answer its health URL: MLflow took 84 s on a 2-core machine running two other
#: test runs and two CPU-bound processes.
READY_SECONDS = float(os.environ.get("TEST_SERVER_READY_SECONDS", "300"))
#: Errors that mean a starting server cannot answer yet.
NOT_YET = (requests.RequestException, http.client.HTTPException, OSError)


class ServerFailed(RuntimeError):
    """A server exited or did not become ready; the message ends with the tail of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes() -> dict[int, tuple[int, int, int]]:
    """Every live process as ``pid: (parent pid, session id, start time)``, read from /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] not in ("Z", "X"):
                found[int(entry.name)] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    return pid in _processes()


def process_tree(session: int, known: frozenset = frozenset()) -> frozenset[tuple[int, int]]:
    """``(pid, start time)`` of the live processes in ``session``, of those in ``known`` (which may have left it)
    and of all their descendants."""
    table = _processes()
    members = {pid for pid, (_, sid, _) in table.items() if sid == session}
    members |= {pid for pid, start in known if pid in table and table[pid][2] == start}
    while True:
        children = {pid for pid, (parent, _, _) in table.items() if parent in members} - members
        if not children:
            return frozenset((pid, table[pid][2]) for pid in members)
        members |= children


def _signal(members: frozenset[tuple[int, int]], number: int) -> None:
    table = _processes()
    for pid, start in members:
        if pid in table and table[pid][2] == start:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, number)


def stop_tree(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """Stop ``process`` (started with ``start_new_session=True``) and every process it started: SIGTERM, then
    SIGKILL to whatever is left after ``grace_seconds``. Raises if anything survives SIGKILL."""
    members = process_tree(process.pid)
    for number, seconds in ((signal.SIGTERM, grace_seconds), (signal.SIGKILL, 10.0)):
        signalled: set = set()
        deadline = time.monotonic() + seconds
        while members and time.monotonic() < deadline:
            _signal(members - signalled, number)
            signalled |= members
            time.sleep(0.05)
            process.poll()  # reaps the leader, our own child
            members = process_tree(process.pid, members)
    if members:
        raise RuntimeError(f"processes {sorted(pid for pid, _ in members)} of {process.args} survived SIGKILL")
    process.wait(10)


def run_in_session(command: list[str], *, input: bytes, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a short command in its own session; nothing it started outlives it, even when it hangs past ``timeout``."""
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        finally:
            stop_tree(process, grace_seconds=0)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


class ServerProcess:
    """A server subprocess, started and stopped as a context manager; ``__enter__`` returns once ``health_url``
    answers 2xx. Its output goes to ``log_path``. However the ``with`` block ends (a failed start included), the
    server and every process it started are gone afterwards."""

    def __init__(self, command: list[str], *, health_url: str, log_path, env: dict | None = None, cwd=None,
                 ready_seconds: float = READY_SECONDS, probe_seconds: float = 5.0, grace_seconds: float = 5.0):
        self.command, self.health_url, self.log_path = command, health_url, Path(log_path)
        self.env, self.cwd = env, cwd
        self.ready_seconds, self.probe_seconds, self.grace_seconds = ready_seconds, probe_seconds, grace_seconds
        self.process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return " ".join(os.path.basename(part) for part in self.command[:4])

    def __enter__(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                            start_new_session=True)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process, self.grace_seconds)

    def log_tail(self, limit: int = 3000) -> str:
        return self.log_path.read_bytes()[-limit:].decode(errors="replace")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.ready_seconds
        while True:
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with status {self.process.returncode} before it was ready; "
                                   f"its log ends:\n{self.log_tail()}")
            waiting_for = self._not_ready_because()
            if waiting_for is None:
                return
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.name} was not ready within {self.ready_seconds:g}s ({waiting_for}); "
                                   f"its log ends:\n{self.log_tail()}")
            time.sleep(0.2)

    def _not_ready_because(self) -> str | None:
        """None once the health URL answers 2xx with a complete body; otherwise what it did instead."""
        try:
            response = requests.get(self.health_url, timeout=self.probe_seconds)
        except NOT_YET as error:
            return f"{type(error).__name__}: {error}"
        return None if 200 <= response.status_code < 300 else f"status {response.status_code}"
