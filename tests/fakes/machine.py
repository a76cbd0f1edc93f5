"""A runner machine in a folder: ``cml/runner/startup.sh`` booted by real ``bash``, with fakes around it.

:class:`Machine` builds a sandbox, runs the rendered startup script in it as a normal user and
lets a test drive and observe it:

* a loopback HTTP server (:class:`FakeInternet`) plays github.com's runner releases, the
  gitlab-runner download host, the EC2 instance metadata service (IMDSv2, spot notices) and
  GitLab's ``DELETE /api/v4/runners``;
* stub commands come first on ``PATH``: ``shutdown`` and ``poweroff`` only record their
  arguments (``uname`` answers ``x86_64`` on other machines), and ``curl`` records its argv
  before running the real one;
* the runners are stubs too, the GitHub ones (``config.sh``, ``run.sh``) shipped in the
  actions/runner tarball the server builds, ``gitlab-runner`` as the downloaded binary. They
  print the log lines the script watches for and are driven by files in ``control/``:
  ``job-start``, ``job-end``, ``remove-refuses`` and ``configure-fails``.

Everything the stubs and the server see goes, one line each and in order, to one events file:
``time<TAB>who<TAB>what<TAB>detail``. Every stub records its argv as a ``who argv ...`` event, so
a test can check that no secret ever reached a command line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cml.runner.startup import StartupSettings, render_script
from tests.fakes.server import Request, write_response

RUNNER_VERSION = "2.999.0"
RELEASES = "/actions/runner/releases"
DOWNLOADS = "/gitlab-runner/latest/binaries"
TARBALL = f"actions-runner-linux-x64-{RUNNER_VERSION}.tar.gz"
IMDS_TOKEN = "imds-session-token-5b1f"
GITHUB_URL = "https://github.com/acme/vision"

# Shared by every stub: where to record, where the test's control files are.
STUB_HEADER = """\
EVENTS={events}
CONTROL={control}
record() {{ printf '%s\\t%s\\t%s\\t%s\\n' "$EPOCHREALTIME" "$1" "$2" "${{3:-}}" >>"$EVENTS"; }}
"""

SHUTDOWN = """\
record shutdown argv "$*"
"""

POWEROFF = """\
record poweroff argv "$*"
"""

UNAME = """\
if [ "${{1:-}}" = -m ]; then echo x86_64; else exec {real} "$@"; fi
"""

CURL = """\
record curl argv "$*"
exec {real} "$@"
"""

CONFIG_SH = """\
record config.sh argv "$*"
if [ "${1:-}" = remove ]; then
  record config.sh remove "token=${ACTIONS_RUNNER_INPUT_TOKEN:-}"
  if [ -e "$CONTROL/remove-refuses" ]; then
    echo 'Removing runner from the server'
    echo 'Failed: Runner is still running a job'
    exit 1
  fi
  echo 'Runner removed successfully'
  exit 0
fi
record config.sh configure "token=${ACTIONS_RUNNER_INPUT_TOKEN:-}"
if [ -e "$CONTROL/configure-fails" ]; then
  echo "Http response code: NotFound from 'POST https://api.github.com/actions/runner-registration'"
  exit 1
fi
echo 'Runner successfully added'
"""

# An ephemeral (jit) runner exits after its job, as actions/runner does.
RUN_SH = """\
record run.sh argv "$*"
record run.sh start "pid=$$ jitconfig=${ACTIONS_RUNNER_INPUT_JITCONFIG:-}"
trap 'record run.sh signal INT; exit 130' INT
trap 'record run.sh signal TERM; exit 143' TERM
stamp() { date -u '+%F %TZ'; }
echo 'Connected to GitHub'
echo "$(stamp): Listening for Jobs"
job=none
while :; do
  if [ "$job" = none ] && [ -e "$CONTROL/job-start" ]; then
    job=running
    echo "$(stamp): Running job: train"
    record run.sh job-start
  elif [ "$job" = running ] && [ -e "$CONTROL/job-end" ]; then
    job=done
    echo "$(stamp): Job train completed with result: Succeeded"
    record run.sh job-end
    if [ -n "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" ]; then record run.sh exit 0; exit 0; fi
  fi
  sleep 0.1
done
"""

GITLAB_RUNNER = """\
record gitlab-runner argv "$*"
record gitlab-runner start "pid=$$ token=${CI_SERVER_TOKEN:-} url=${CI_SERVER_URL:-}"
trap 'record gitlab-runner signal QUIT; exit 0' QUIT
trap 'record gitlab-runner signal TERM; exit 143' TERM
single=0
[[ " $* " == *" --max-builds 1 "* ]] && single=1
echo '{"level":"info","msg":"Starting runner for '"${CI_SERVER_URL:-}"'","runner":"glrt-XXX"}'
job=none
while :; do
  if [ "$job" = none ] && [ -e "$CONTROL/job-start" ]; then
    job=running
    echo '{"job":42,"level":"info","msg":"Checking for jobs... received","repo_url":"https://gitlab.test/a/b.git"}'
    record gitlab-runner job-start
  elif [ "$job" = running ] && [ -e "$CONTROL/job-end" ]; then
    job=done
    echo '{"duration_s":3.2,"job":42,"level":"info","msg":"Job succeeded","project":7}'
    record gitlab-runner job-end
    if [ "$single" = 1 ]; then record gitlab-runner exit 0; exit 0; fi
  fi
  sleep 0.1
done
"""


def stub(header: str, body: str) -> str:
    return "#!/bin/bash\n" + header + body


@dataclass(frozen=True)
class Event:
    at: float
    who: str
    what: str
    detail: str

    def __str__(self) -> str:
        return " ".join(part for part in (self.who, self.what, self.detail) if part)


class FakeInternet:
    """github.com, the gitlab-runner download host, the instance metadata service and GitLab's runner API."""

    def __init__(self, machine: Machine):
        self.machine = machine
        self.spot_notice = False  # flip to make the metadata service announce an interruption
        self.missing: set[str] = set()  # "github-runner" / "gitlab-runner": the download answers 404
        self.metadata_tokens: list[str | None] = []  # X-aws-ec2-metadata-token of each spot poll
        self.deleted_runner_tokens: list[str] = []
        # Set to answer as Google's metadata server: paths under /computeMetadata/v1/ -> values.
        self.gce: dict[str, str] | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, bytes]:
        if method == "GET" and path == f"{RELEASES}/latest":
            return 302, {"Location": f"{self.url}{RELEASES}/tag/v{RUNNER_VERSION}"}, b""
        if method == "GET" and path == f"{RELEASES}/tag/v{RUNNER_VERSION}":
            return 200, {"Content-Type": "text/html"}, b"<html>Release v2.999.0</html>"
        if method == "GET" and path == f"{RELEASES}/download/v{RUNNER_VERSION}/{TARBALL}":
            if "github-runner" in self.missing:
                return 404, {}, b"Not Found"
            return 200, {"Content-Type": "application/gzip"}, self.machine.runner_tarball()
        if method == "GET" and path == f"{DOWNLOADS}/gitlab-runner-linux-amd64":
            if "gitlab-runner" in self.missing:
                return 404, {}, b"<Error><Code>NoSuchKey</Code></Error>"
            return 200, {"Content-Type": "application/octet-stream"}, self.machine.gitlab_runner().encode()
        if method == "PUT" and path == "/latest/api/token":
            if "X-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, {}, b"missing ttl"
            return 200, {"Content-Type": "text/plain"}, IMDS_TOKEN.encode()
        if method == "GET" and path == "/latest/meta-data/spot/instance-action":
            token = headers.get("X-aws-ec2-metadata-token")
            self.metadata_tokens.append(token)
            if token != IMDS_TOKEN:
                return 401, {}, b"Unauthorized"
            if not self.spot_notice:
                return 404, {}, b"Not Found"
            in_two_minutes = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
            notice = {"action": "terminate", "time": in_two_minutes}
            return 200, {"Content-Type": "application/json"}, json.dumps(notice).encode()
        if self.gce is not None and path.startswith("/computeMetadata/v1/"):
            if headers.get("Metadata-Flavor") != "Google":
                return 403, {}, b"Missing Metadata-Flavor:Google header."
            value = self.gce.get(path.removeprefix("/computeMetadata/v1/").rstrip("/"))
            if value is None:
                return 404, {}, b"Not Found"
            content_type = "application/json" if value.startswith("{") else "application/text"
            return 200, {"Content-Type": content_type, "Metadata-Flavor": "Google"}, value.encode()
        if method == "DELETE" and path == "/api/v4/runners":
            form = Request(method, path, {}, headers, body).files()
            token = form.get("token", (None, None, b""))[2].decode()
            self.deleted_runner_tokens.append(token)
            self.machine.record("server", "DELETE /api/v4/runners", f"token={token}")
            return 204, {}, b""
        return 404, {}, b"Not Found"

    def _handler(self):
        internet = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = internet.answer(self.command, self.path.split("?")[0], self.headers, body)
                write_response(self, status, headers, payload)

            do_GET = do_PUT = do_DELETE = do_POST = _serve

            def log_message(self, *args):
                pass

        return Handler


def sandboxed(script: str, machine: Machine) -> str:
    """``script`` with its downloads and work folder inside ``machine``'s sandbox; everything else as sent."""
    replacements = {"CML_GITHUB_RUNNER_RELEASES": machine.internet.url + RELEASES,
                    "CML_GITLAB_RUNNER_DOWNLOADS": machine.internet.url + DOWNLOADS,
                    "CML_RUNNER_WORKDIR": machine.workdir}
    lines = []
    for line in script.splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={shlex.quote(replacements[name])}" if name in replacements and "=" in line else line)
    return "\n".join(lines) + "\n"


class Machine:
    """One boot of the startup script in a sandbox; :meth:`close` kills whatever it left behind."""

    def __init__(self, poll_seconds: float = 0.2, stop_grace_seconds: int = 2):
        self.root = Path(tempfile.mkdtemp(prefix="cml-machine-"))
        self.root.chmod(0o755)
        self.home = self.root / "opt-cml-runner"  # CML_RUNNER_HOME
        self.workdir = str(self.root / "work")
        self.bin = self.root / "bin"
        self.control = self.root / "control"
        self.events_file = self.root / "events.tsv"
        for folder in (self.bin, self.control, self.root / "user-home"):
            folder.mkdir()
        self.events_file.touch()
        self.poll_seconds = poll_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self.header = STUB_HEADER.format(events=self.events_file, control=self.control)
        self._write_stubs()
        self.internet = FakeInternet(self)
        self.process: subprocess.Popen | None = None
        self.settings: StartupSettings | None = None
        self.exited_at: float | None = None

    # -- building ------------------------------------------------------------------------------

    def _write_stubs(self) -> None:
        stubs = {"shutdown": SHUTDOWN, "poweroff": POWEROFF, "curl": CURL.format(real=shutil.which("curl"))}
        if os.uname().machine != "x86_64":
            stubs["uname"] = UNAME.format(real=shutil.which("uname"))
        for name, body in stubs.items():
            path = self.bin / name
            path.write_text(stub(self.header, body))
            path.chmod(0o755)

    def runner_tarball(self) -> bytes:
        """actions/runner as the release page serves it, with stub ``config.sh`` and ``run.sh``."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, body in (("config.sh", CONFIG_SH), ("run.sh", RUN_SH)):
                data = stub(self.header, body).encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o755, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def gitlab_runner(self) -> str:
        return stub(self.header, GITLAB_RUNNER)

    @property
    def path(self) -> str:
        return f"{self.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    def settings_for(self, forge: str, registration: dict[str, str], **options) -> StartupSettings:
        """Settings as ``cml runner launch`` writes them, with downloads and the work folder in the sandbox."""
        options.setdefault("workdir", self.workdir)
        return StartupSettings(
            forge=forge, name="cml-test-runner", labels=("cml", "gpu"),
            url=GITHUB_URL if forge == "github" else self.internet.url, registration=registration,
            downloads={"CML_GITHUB_RUNNER_RELEASES": self.internet.url + RELEASES,
                       "CML_GITLAB_RUNNER_DOWNLOADS": self.internet.url + DOWNLOADS},
            **options)

    # -- running ---------------------------------------------------------------------------------

    def boot(self, settings: StartupSettings) -> None:
        """Start ``bash startup.sh`` as a normal user: as ``nobody`` when the tests run as root."""
        self.settings = settings
        self.boot_script(render_script(settings))

    def boot_script(self, text: str, extra_env: dict[str, str] | None = None) -> None:
        """Start a rendered startup script (as a cloud hands it over), with ``extra_env`` added to its environment."""
        for command in ("shutdown", "poweroff"):
            assert shutil.which(command, path=self.path) == str(self.bin / command), f"{command} is not stubbed"
        self.process = self.start_script(text, "startup.sh", extra_env)

    def start_script(self, text: str, file_name: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start ``bash file_name`` (holding ``text``) in the sandbox, as :meth:`boot` does, in a session of its own;
        its output goes to ``stdout``/``stderr`` in the sandbox."""
        script = self.root / file_name
        script.write_text(text)
        env = {"PATH": self.path, "HOME": str(self.root / "user-home"), "LANG": "C.UTF-8",
               "CML_RUNNER_HOME": str(self.home), "CML_POLL_SECONDS": str(self.poll_seconds),
               "CML_STOP_GRACE_SECONDS": str(self.stop_grace_seconds), "CML_METADATA_URL": self.internet.url,
               **(extra_env or {})}
        user = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for folder, _, files in os.walk(self.root):
                for name in (folder, *(os.path.join(folder, f) for f in files)):
                    os.chown(name, nobody.pw_uid, nobody.pw_gid)
            user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        with open(self.root / "stdout", "ab") as out, open(self.root / "stderr", "ab") as err:
            return subprocess.Popen(["bash", str(script)], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True, **user)

    def touch(self, name: str) -> None:
        (self.control / name).touch()

    def remove(self, name: str) -> None:
        (self.control / name).unlink()

    def record(self, who: str, what: str, detail: str = "") -> None:
        with open(self.events_file, "a") as events:
            events.write(f"{time.time():.6f}\t{who}\t{what}\t{detail}\n")

    def events(self) -> list[Event]:
        found = []
        for line in self.events_file.read_text().splitlines():
            at, who, what, detail = line.split("\t", 3)
            found.append(Event(float(at), who, what, detail))
        return found

    def timeline(self) -> list[str]:
        return [str(event) for event in self.events()]

    def find(self, prefix: str) -> list[Event]:
        return [event for event in self.events() if str(event).startswith(prefix)]

    def position(self, prefix: str) -> int:
        """Index in the timeline of the first event starting with ``prefix``."""
        timeline = self.timeline()
        found = [i for i, event in enumerate(timeline) if event.startswith(prefix)]
        assert found, f"no event {prefix!r}\n{self.report()}"
        return found[0]

    def assert_order(self, *prefixes: str) -> None:
        positions = [self.position(prefix) for prefix in prefixes]
        assert positions == sorted(positions), f"expected the order {prefixes}\n{self.report()}"

    @property
    def log(self) -> str:
        path = self.home / "cml-runner.log"
        return path.read_text() if path.exists() else ""

    @property
    def runner_log(self) -> str:
        path = self.home / "runner.log"
        return path.read_text() if path.exists() else ""

    def exited(self) -> bool:
        if self.exited_at is None and self.process.poll() is not None:
            self.exited_at = time.time()
        return self.exited_at is not None

    def wait_for(self, prefix: str, timeout: float = 15) -> Event:
        """The first event starting with ``prefix``, waiting for it while the script runs."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.exited()  # before looking, so that an event written just before the exit counts
            found = self.find(prefix)
            if found:
                return found[0]
            assert not exited, f"the script exited without {prefix!r}\n{self.report()}"
            assert time.monotonic() < deadline, f"no {prefix!r} within {timeout}s\n{self.report()}"
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 40) -> int:
        deadline = time.monotonic() + timeout
        while not self.exited():
            assert time.monotonic() < deadline, f"the script still runs after {timeout}s\n{self.report()}"
            time.sleep(0.05)
        return self.process.returncode

    def runner_pids(self) -> list[int]:
        return [int(event.detail.split()[0].removeprefix("pid="))
                for event in self.events() if event.who in ("run.sh", "gitlab-runner") and event.what == "start"]

    def report(self) -> str:
        def read(name):
            path = self.root / name
            return path.read_text(errors="replace") if path.exists() else ""

        return "\n".join([
            "--- events", *self.timeline(), "--- cml-runner.log", self.log, "--- runner.log", self.runner_log,
            "--- stdout", read("stdout"), "--- stderr", read("stderr")])

    def halt(self) -> None:
        """Kill the script and its runners, as a VM that is deleted; the sandbox stays for the test to read."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in self.runner_pids():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    def close(self) -> None:
        self.halt()
        self.internet.close()
        shutil.rmtree(self.root, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` still runs."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False
