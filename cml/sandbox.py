"""Run one of cml's parsers on hostile input in a child process of bounded memory and CPU time.

A report with more markup than :data:`~cml.report.truncate.MAX_MARKUP` may still be harmless (the count is an
upper bound of cmark-gfm's nodes: every punctuation byte counts, also in a fenced code block, which cmark makes one
node of), or may be a flood that would take cmark a gigabyte. So it is not refused at once: cmark parses it in a
child process (:func:`run_bounded`) that may use :data:`MEMORY_BUDGET` more address space than it had once its
parser was loaded and :data:`CPU_SECONDS` of CPU time; a child that dies of either, or of anything else, leaves the
report refused. A 4 MiB flood of ``[`` with one link (cmark: 1 GB) dies at the limit; a 1.3 MB training log in a
code fence (cmark: some 40 MiB) parses.

The child runs ``MODULE:FUNCTION`` of this cml, named by the caller (so this module, shared infrastructure,
imports no layer above it): ``FUNCTION(data, limit)`` loads what it needs, calls ``limit()`` to apply the limits,
and returns bytes. The child is the same interpreter in isolated mode (``-I``: no ``PYTHON*`` variable, user site
or current folder; the parent's import path is passed on), in a process group of its own, in ``/``, with an
environment of only ``PATH`` and no core dumps: no token is handed to it (it runs as the same user, so this bounds
what it costs, not what it could read). The input goes on its standard input, the result comes back on its standard output. Its group is killed
however the parent leaves :func:`run_bounded`, and it dies with the parent (Linux). Only Linux has both limits
enforced (``RLIMIT_AS``; macOS ignores it) and the baseline readable (``/proc/self/status``): elsewhere
:func:`run_bounded` returns ``None`` and the caller refuses the input.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import signal
import subprocess
import sys

try:
    import resource
except ImportError:  # Windows: no limits, so no child (see supported)
    resource = None  # type: ignore[assignment]

#: Address space the child may take beyond what it has once cmark is loaded; cmark keeps some 250 bytes a node.
#: An 8 MB training log takes 50 MiB in a code fence, 220 MiB out of one; a 4 MiB flood of "[" and a link 1 GB.
MEMORY_BUDGET = 512 << 20
#: CPU time the child may take (parsing 8 MiB of markup takes cmark under two seconds).
CPU_SECONDS = 20
#: Wall-clock time the parent waits for the child, for a machine busy with other work.
WALL_SECONDS = 120
_OUT_OF_MEMORY = 3
# The folder that holds the ``cml`` package this module is part of: the child imports the same cml.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The child's import path is the parent's (its first argument, one folder a line): -I drops PYTHONPATH.
_ENTRY = "import sys; sys.path[:0] = sys.argv[1].splitlines(); from cml.sandbox import main; main(sys.argv[2:])"


def supported() -> bool:
    """True where the child's limits are enforced (Linux)."""
    return sys.platform.startswith("linux") and resource is not None


def child_environment() -> dict[str, str]:
    """The child's environment: ``PATH`` only (``-I`` ignores ``PYTHONPATH``; the child is given the folder of
    this cml instead), none of the job's tokens and keys."""
    return {"PATH": os.environ.get("PATH", os.defpath)}


def run_bounded(target: str, data: bytes, memory: int | None = None, cpu_seconds: int | None = None,
                wall_seconds: float | None = None) -> bytes | None:
    """What ``target`` (``MODULE:FUNCTION`` of cml, see the module's description) returns for ``data`` in a child
    process, or ``None`` if the child died (of its memory or CPU limit, or of anything else) or cannot be bounded on
    this system. The limits default to :data:`MEMORY_BUDGET`, :data:`CPU_SECONDS` and :data:`WALL_SECONDS` as they
    are when it is called."""
    module, _, function = target.partition(":")
    if not module.startswith("cml.") or not function:
        raise ValueError(f"not a function of cml: {target!r}")
    if not supported():
        return None
    memory = MEMORY_BUDGET if memory is None else memory
    cpu_seconds = CPU_SECONDS if cpu_seconds is None else cpu_seconds
    wall_seconds = WALL_SECONDS if wall_seconds is None else wall_seconds
    path = "\n".join([_ROOT, *(folder for folder in sys.path if folder and "\n" not in folder)])
    command = [sys.executable, "-I", "-c", _ENTRY, path, target, str(memory), str(cpu_seconds), str(os.getpid())]
    # In "/": a child that dies of its limits writes no core file into the job's workspace (see main, too).
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=child_environment(), start_new_session=True, close_fds=True, cwd="/")
    try:
        output, _ = child.communicate(data, timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    return output if child.returncode == 0 else None


def _address_space() -> int:
    """This process's virtual memory size, in bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


def _limit(kind: int, value: int, grace: int = 0) -> None:
    """Set the soft limit ``kind`` to ``value`` and the hard one ``grace`` above it (never above the hard one)."""
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
        grace = min(grace, hard - value)
    resource.setrlimit(kind, (value, value + grace))


def _die_with_parent(parent: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def main(arguments: list[str]) -> None:
    """The child: read the input from standard input, write what the target makes of it to standard output."""
    target, memory, cpu_seconds, parent = arguments[0], int(arguments[1]), int(arguments[2]), int(arguments[3])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # abort() or SIGXCPU at a limit dumps no core
    _die_with_parent(parent)
    data = sys.stdin.buffer.read()
    module, _, function = target.partition(":")
    run = getattr(importlib.import_module(module), function)

    def limit() -> None:
        _limit(resource.RLIMIT_CPU, cpu_seconds, grace=1)  # SIGXCPU, then SIGKILL
        _limit(resource.RLIMIT_AS, _address_space() + memory)

    try:
        output = run(data, limit)
        del data
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    except MemoryError:
        os._exit(_OUT_OF_MEMORY)
