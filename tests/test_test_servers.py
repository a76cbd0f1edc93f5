"""The servers the tests start as subprocesses (tests/fakes/processes.py): ready despite a slow start, gone with
every process they started however the test ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.fakes.processes import ServerFailed, ServerProcess, alive, free_port, run_in_session

#: A health endpoint that misbehaves as a starting server does: it listens only after a second, then answers its
#: first requests by stalling past the probe's time-out, with 503, with a body cut short and with a reset; then 200.
SLOW_START = r"""
import socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, stall_seconds = int(sys.argv[1]), float(sys.argv[2])
misbehaviours = ["stall", "503", "cut short", "reset"]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with lock:
            behaviour = misbehaviours.pop(0) if misbehaviours else "ok"
        print(behaviour, flush=True)
        if behaviour == "stall":
            time.sleep(stall_seconds)
        elif behaviour == "503":
            self.send_error(503)
        elif behaviour == "cut short":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"partial")
            self.close_connection = True
        elif behaviour == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


time.sleep(1)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""

#: A server that ignores SIGTERM and starts two children that ignore it too, one of them in a session of its own;
#: their pids go to the file named by argv[2]. With argv[3] == "never" it answers 503 for ever.
STUBBORN = r"""
import signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, pids_file, health = int(sys.argv[1]), sys.argv[2], sys.argv[3]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleeper = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"]
children = [subprocess.Popen(sleeper), subprocess.Popen(sleeper, start_new_session=True)]
with open(pids_file, "w") as file:
    file.write(" ".join(str(child.pid) for child in children))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200 if health == "ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


@pytest.fixture(autouse=True)
def no_sleeper_outlives_a_failed_test(tmp_path):
    """Should the helper fail these tests, the sleepers they start (pids in the files "pids" or "pid") die anyway."""
    yield
    for written in (tmp_path / "pids", tmp_path / "pid"):
        for pid in map(int, written.read_text().split() if written.is_file() else []):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def script_server(tmp_path, script: str, *args: str, **options) -> ServerProcess:
    port = free_port()
    (tmp_path / "server.py").write_text(script)
    return ServerProcess([sys.executable, str(tmp_path / "server.py"), str(port), *args],
                         health_url=f"http://127.0.0.1:{port}/health", log_path=tmp_path / "server.log", **options)


def stubborn_server(tmp_path, health: str = "ok", **options) -> ServerProcess:
    return script_server(tmp_path, STUBBORN, str(tmp_path / "pids"), health, grace_seconds=1, **options)


def started_processes(server: ServerProcess, tmp_path) -> list[int]:
    """The server's pid and its children's, once it has written them."""
    deadline = time.monotonic() + 60
    while not (tmp_path / "pids").is_file() or len((tmp_path / "pids").read_text().split()) < 2:
        assert time.monotonic() < deadline, "the server did not start its children"
        time.sleep(0.05)
    return [server.process.pid, *map(int, (tmp_path / "pids").read_text().split())]


def test_a_server_that_stalls_fails_or_resets_while_starting_becomes_ready(tmp_path):
    with script_server(tmp_path, SLOW_START, "2", probe_seconds=0.5) as server:
        served = server.log_path.read_text().split("\n")
    assert served[:5] == ["stall", "503", "cut short", "reset", "ok"], server.log_tail()


def test_a_server_and_children_that_ignore_sigterm_are_killed_even_outside_its_process_group(tmp_path):
    with stubborn_server(tmp_path) as server:
        pids = started_processes(server, tmp_path)
        assert all(alive(pid) for pid in pids)
        started = time.monotonic()
    assert time.monotonic() - started < 10
    assert [pid for pid in pids if alive(pid)] == []


def test_a_server_that_dies_at_start_fails_at_once_with_the_end_of_its_log(tmp_path):
    started = time.monotonic()
    with pytest.raises(ServerFailed) as failure, \
            script_server(tmp_path, "import sys\nprint('cannot bind: address already in use')\nsys.exit(3)\n"):
        pass
    assert time.monotonic() - started < 30
    assert "exited with status 3 before it was ready" in str(failure.value)
    assert str(failure.value).endswith("cannot bind: address already in use\n")


def test_a_server_never_ready_fails_after_the_bound_and_leaves_nothing(tmp_path):
    server = stubborn_server(tmp_path, health="never", ready_seconds=10)
    with pytest.raises(ServerFailed, match=r"was not ready within 10s \(status 503\)"), server:
        pass
    assert [pid for pid in started_processes(server, tmp_path) if alive(pid)] == []


def test_the_server_is_stopped_when_the_test_body_raises(tmp_path):
    with pytest.raises(ZeroDivisionError), stubborn_server(tmp_path) as server:
        pids = started_processes(server, tmp_path)
        raise ZeroDivisionError
    assert [pid for pid in pids if alive(pid)] == []


def test_ctrl_c_while_waiting_for_the_server_leaves_nothing(tmp_path):
    server = stubborn_server(tmp_path, health="never", ready_seconds=90)

    def interrupt_once_started():
        started_processes(server, tmp_path)
        signal.raise_signal(signal.SIGINT)

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt), server:
        pass
    assert [pid for pid in started_processes(server, tmp_path) if alive(pid)] == []


def test_a_command_run_per_request_leaves_nothing_when_it_hangs(tmp_path):
    pid_file = tmp_path / "pid"
    hang = f"sleep 120 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_session(["sh", "-c", hang], input=b"", env={"PATH": "/usr/bin:/bin"}, timeout=5)
    assert time.monotonic() - started < 20
    assert not alive(int(pid_file.read_text()))
