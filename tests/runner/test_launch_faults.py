"""A failure at every step of ``cml runner launch`` leaves no instance running and no runner registered.

Faults come from the fake forge (HTTP errors, malformed answers), the EC2 proxy (AWS errors,
answers lost after the instance was created), the machines (never online, powering off at
once) and signals to a real ``cml`` process. Each test counts what is left afterwards.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.fakes.ci_env import PAT
from tests.runner.conftest import live_instances

JIT = r"/actions/runners/generate-jitconfig$"
RUNNER = r"/actions/runners/\d+$"


def launch(run_cli, *args):
    return run_cli("runner", "launch", "--cloud", "aws", "--single", "--name", "gpu", "--launch-timeout", "3", *args)


def leftovers(cloud, forge) -> tuple[int, int]:
    return len(live_instances(cloud)), len(forge.runner_store.runners)


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert PAT not in result.stderr and PAT not in result.stdout
    return lines[0]


FAULTS = {
    "forge refuses the just-in-time configuration": (
        lambda cloud, forge, fleet: forge.server.fail("POST", JIT, status=500, times=20),
        "creating a just-in-time runner configuration", False),
    "forge refuses the removal token after creating the runner": (
        lambda cloud, forge, fleet: forge.server.fail("POST", r"/remove-token$", status=403,
                                                      body={"message": "Must have admin rights"}, times=1),
        "administration: write", False),
    "image lookup fails": (
        lambda cloud, forge, fleet: cloud.fail("DescribeImages", "InternalError", status=500, times=20),
        "looking up the image failed", False),
    "RunInstances is refused": (
        lambda cloud, forge, fleet: cloud.fail("RunInstances", "InvalidParameterValue", message="bad subnet"),
        "starting the instance failed: InvalidParameterValue: bad subnet", True),
    "RunInstances answers are lost after the instances were created": (
        lambda cloud, forge, fleet: cloud.fail("RunInstances", "InternalError", status=500, after=True, times=20),
        "starting the instance failed", True),
    "the runner never comes online": (
        lambda cloud, forge, fleet: setattr(fleet, "behaviour", "never"),
        "runner gpu did not come online within 3 s (--launch-timeout)", True),
    "the machine powers off before its runner is online": (
        lambda cloud, forge, fleet: setattr(fleet, "behaviour", "power-off"),
        "before runner gpu came online", True),
    "the forge fails while we wait": (
        lambda cloud, forge, fleet: (setattr(fleet, "behaviour", "never"),
                                     forge.server.fail("GET", RUNNER, status=502, times=100)),
        "reading runner", True),
    "the forge answers nonsense (a bug path)": (
        lambda cloud, forge, fleet: (setattr(fleet, "behaviour", "never"),
                                     forge.server.fail("GET", RUNNER, status=200, body={"unexpected": True}, times=1)),
        "the answer (200) is not what GitHub sends", True),
    "EC2 fails while we wait": (
        lambda cloud, forge, fleet: (setattr(fleet, "behaviour", "never"),
                                     cloud.fail("DescribeInstances", "UnauthorizedOperation", times=1)),
        "reading instance", True),
    "termination fails once": (
        lambda cloud, forge, fleet: (setattr(fleet, "behaviour", "never"),
                                     cloud.fail("TerminateInstances", "IncorrectInstanceState", times=1)),
        "did not come online", True),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failure_at_any_step_leaves_nothing_behind(github_runners, cloud, fleet, run_cli, fault):
    inject, message, started = FAULTS[fault]
    inject(cloud, github_runners, fleet)

    result = launch(run_cli)

    assert result.exit_code == 1
    line = one_line(result)
    assert message in line
    assert ("RunInstances" in cloud.actions()) is started
    assert leftovers(cloud, github_runners) == (0, 0)
    if started:
        assert re.search(r"; (the machine|\d+ machines) and the runner registration were removed$", line) \
            or line.endswith("; the runner registration was removed"), line
    else:  # the launch itself had created nothing: it claims no removal
        assert "removed" not in line, line


def test_only_what_existed_is_said_to_be_removed(github_runners, cloud, fleet, run_cli):
    """Registration-token mode: no runner exists until the machine configures itself, so when the machine
    cannot even start there is no registration to remove, and the message must not claim one."""
    cloud.fail("RunInstances", "InvalidParameterValue", message="bad subnet")

    result = run_cli("runner", "launch", "--cloud", "aws", "--name", "gpu", "--launch-timeout", "3")

    assert result.exit_code == 1
    line = one_line(result)
    assert line.endswith("starting the instance failed: InvalidParameterValue: bad subnet"), line
    assert github_runners.runner_store.events == [] and leftovers(cloud, github_runners) == (0, 0)


def test_a_runner_the_machine_registered_itself_is_removed_too(github_runners, cloud, fleet, run_cli):
    """Registration-token mode: the runner exists only once the machine configured it, here without ever
    connecting; the clean-up finds it by name."""
    fleet.behaviour = "register-only"

    result = run_cli("runner", "launch", "--cloud", "aws", "--name", "gpu", "--launch-timeout", "2")

    assert result.exit_code == 1
    assert "did not come online" in one_line(result)
    assert github_runners.runner_store.events == [("create", "gpu"), ("delete", "gpu")]
    assert leftovers(cloud, github_runners) == (0, 0)


def test_what_cannot_be_removed_is_named_with_the_command_that_removes_it(github_runners, cloud, fleet, run_cli):
    fleet.behaviour = "never"
    cloud.fail("TerminateInstances", "UnauthorizedOperation", times=3)
    github_runners.server.fail("DELETE", RUNNER, status=500, times=20)

    result = launch(run_cli)

    assert result.exit_code == 1
    line = one_line(result)
    instance = live_instances(cloud)[0]["InstanceId"]
    assert f"could not remove instance {instance}" in line and "runner registration gpu" in line
    assert line.endswith("run 'cml runner stop gpu'")
    assert leftovers(cloud, github_runners) == (1, 1)

    github_runners.server.faults.clear()
    stopped = run_cli("runner", "stop", "gpu")
    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [f"terminated {instance} (gpu)", "removed runner registration gpu"]
    assert leftovers(cloud, github_runners) == (0, 0)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_a_cancelled_job_removes_everything(github_runners, cloud, fleet, signal_number):
    fleet.behaviour = "never"
    process = subprocess.Popen([sys.executable, "-m", "cml", "runner", "launch", "--cloud", "aws", "--single",
                                "--name", "gpu", "--launch-timeout", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not live_instances(cloud) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_instances(cloud), "the launch never started an instance"

        process.send_signal(signal_number)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:  # a failed assertion must not leave the launch running
            process.kill()
            process.communicate()

    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "cml: error: interrupted; the machine and the runner registration were removed"]
    assert leftovers(cloud, github_runners) == (0, 0)


def test_a_stop_signal_whose_exception_python_dropped_still_ends_the_launch():
    """A signal that lands while Python runs a weakref callback or finalizer has its KeyboardInterrupt printed and
    dropped ("Exception ignored in…", seen once in CI under load): the launch's next step raises it again."""
    from types import SimpleNamespace

    from cml.runner.launch import RunnerLauncher, _Interrupt

    interrupt = _Interrupt()
    with contextlib.suppress(KeyboardInterrupt):  # what Python does with it inside a finalizer
        interrupt(signal.SIGTERM, None)
    launcher = RunnerLauncher(forge=None, backend=None, warn=print)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        launcher._wait_until_online(SimpleNamespace(launch_timeout=60), [], interrupt.check)  # type: ignore[arg-type]
    launcher._wait_until_online(SimpleNamespace(launch_timeout=60), [])  # type: ignore[arg-type]  # nothing to wait for
