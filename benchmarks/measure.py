"""Timing shared by the benchmark scripts: subprocess runs the way a CI job calls ``cml``, paired with a peer.

Every command runs in a session (and process group) of its own, its output in temporary files, started by a small
process (``spawner.py``) that reaps it with ``os.wait4``, which gives that command's own peak resident memory. However the benchmark ends (a failure, Ctrl-C, SIGTERM), the
group of the command running at that moment is killed. :class:`Results` prints each row as soon as it is measured
and rewrites the JSON file of every row so far, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

CML = [sys.executable, "-m", "cml"]
#: A command's exit statuses that still mean it did its work (2: a failed quality gate, the report written).
SUCCESS = (0, 2)
#: ``ru_maxrss`` is in kibibytes on Linux and in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024
#: Where ``--output`` writes by default: the current folder, not the repository's benchmarks folder.
DEFAULT_OUTPUT = "benchmark-results.json"


class Measured(float):
    """The median wall time of several runs, in seconds: a float, so it goes wherever a time went, that also keeps
    every sample and the highest peak resident memory (bytes) of any process measured, or ``None``."""

    __slots__ = ("samples", "peak_rss")
    samples: tuple[float, ...]
    peak_rss: int | None

    def __new__(cls, samples: Iterable[float], peak_rss: int | None = None) -> Measured:
        samples = tuple(samples)
        measured = super().__new__(cls, statistics.median(samples))
        measured.samples = samples
        measured.peak_rss = peak_rss
        return measured


#: ``(case, peer, cml seconds, peer seconds or None)``; the seconds are :class:`Measured` where the runs were
#: measured here (samples and peak memory go to the JSON file), plain floats otherwise.
Row = tuple[str, str, float, Union[float, None]]


def _peak(*values: int | None) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


class _Spawner:
    """The process that starts every measured command (``spawner.py``): a bare interpreter, so that a command's peak
    memory is not inflated by a copy of the benchmark's own (see there). Started on first use, in a session of its
    own (Ctrl-C reaches only the benchmark, which stops the running command itself); ends with the benchmark."""

    _current: _Spawner | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-S", str(Path(__file__).with_name("spawner.py"))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)
        atexit.register(self.close)

    @classmethod
    def instance(cls) -> _Spawner:
        if cls._current is None or cls._current.process.poll() is not None:
            cls._current = cls()
        return cls._current

    def run(self, command: Sequence[str], cwd: str, env: Mapping[str, str], stdout: str,
            stderr: str) -> tuple[int, int, float]:
        """``command``'s wait status, peak memory (``ru_maxrss``) and wall time. Interrupted, the command's
        session is killed and this spawner is replaced."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"argv": list(command), "cwd": cwd, "env": dict(env), "stdout": stdout,
                                             "stderr": stderr}) + "\n")
        self.process.stdin.flush()
        pid = None
        try:
            pid = self._answer()["pid"]
            answer = self._answer()
        except BaseException:
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            self.close()
            raise
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # whatever the command left running in its session
        return answer["status"], answer["maxrss"], answer["seconds"]

    def _answer(self) -> dict[str, Any]:
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the benchmark's spawner ended (status {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        """End the spawner (it ends at the end of its input; killed if it does not within 10 s)."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if _Spawner._current is self:
            _Spawner._current = None


def run_command(command: Sequence[str], cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
                check: bool = True) -> tuple[Measured, subprocess.CompletedProcess]:
    """Run ``command`` once in a session (and process group) of its own; its wall time, with its own peak resident
    memory (``os.wait4``), and its completed process (output as text).

    With ``check``, an exit status outside :data:`SUCCESS` aborts the benchmark with the command's error output.
    When the benchmark is interrupted, the command's whole group is killed.
    """
    with tempfile.TemporaryDirectory(prefix="cml-bench-") as folder:
        stdout, stderr = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        status, maxrss, seconds = _Spawner.instance().run(command, os.fspath(cwd or os.getcwd()),
                                                         os.environ if env is None else env, stdout, stderr)
        code = os.waitstatus_to_exitcode(status)
        completed = subprocess.CompletedProcess(list(command), code, _text(stdout), _text(stderr))
    if check and code not in SUCCESS:
        raise SystemExit(f"{' '.join(map(str, command))} failed with status {code}:\n{completed.stderr[-4000:]}")
    return Measured([seconds], maxrss * _RSS_UNIT), completed


def _text(path: str) -> str:
    with open(path, "rb") as handle:
        return handle.read().decode(errors="replace")


def run_sequence(commands: Sequence[Sequence[str]], cwd: Path, env: Mapping[str, str] | None = None) -> Measured:
    """Wall time of running ``commands`` one after another, with the highest peak memory among them; a failing
    command aborts the benchmark."""
    total, peak = 0.0, None
    for command in commands:
        measured, _ = run_command(command, cwd, env)
        total += measured
        peak = _peak(peak, measured.peak_rss)
    return Measured([total], peak)


def _merged(runs: Sequence[Measured]) -> Measured:
    return Measured([float(run) for run in runs], _peak(*(run.peak_rss for run in runs)))


def timed(command: Sequence[str], cwd: Path, repeat: int, env: Mapping[str, str] | None = None) -> Measured:
    """Median wall time of ``command`` over ``repeat`` runs (every sample and the peak memory kept)."""
    return timed_sequence([command], cwd, repeat, env)


def alternated(sequences: Mapping[str, Sequence[Sequence[str]]], cwd: Path, repeat: int,
               env: Mapping[str, str] | None = None) -> dict[str, Measured]:
    """Median wall times of each named sequence of commands, measured in rounds: every sequence once per round, the
    order rotated by one each round (the first round in the order given), so that all of them see the same load
    and caches on a shared machine."""
    names = list(sequences)
    runs: dict[str, list[Measured]] = {name: [] for name in names}
    for attempt in range(repeat):
        shift = attempt % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(run_sequence(sequences[name], cwd, env))
    return {name: _merged(measured) for name, measured in runs.items()}


def paired(commands: Sequence[Sequence[str]], peer: Sequence[Sequence[str]] | None, cwd: Path,
           repeat: int, env: Mapping[str, str] | None = None) -> tuple[Measured, Measured | None]:
    """Median wall times of ``commands`` and of ``peer`` (each a sequence run in order), measured alternately
    (cml first, then the peer first, and so on) so that both see the same load and caches on a shared machine."""
    if not peer:
        return timed_sequence(commands, cwd, repeat, env), None
    measured = alternated({"cml": commands, "peer": peer}, cwd, repeat, env)
    return measured["cml"], measured["peer"]


def timed_sequence(commands: Sequence[Sequence[str]], cwd: Path, repeat: int,
                   env: Mapping[str, str] | None = None) -> Measured:
    """Median wall time of running ``commands`` in order, over ``repeat`` runs."""
    return _merged([run_sequence(commands, cwd, env) for _ in range(repeat)])


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def _seconds(value: float | None) -> dict[str, Any] | None:
    if value is None:
        return None
    samples = getattr(value, "samples", None)
    return {"median_seconds": round(float(value), 4),
            "samples_seconds": [round(sample, 4) for sample in samples] if samples else [round(float(value), 4)],
            "peak_rss_mib": _mib(getattr(value, "peak_rss", None))}


def row_record(row: Row) -> dict[str, Any]:
    """One row as the JSON file stores it: both sides' medians, samples and peak memory, and the ratios
    cml / peer (time and memory)."""
    case, peer, seconds, peer_seconds = row
    ours, theirs = _seconds(seconds), _seconds(peer_seconds)
    memory_ratio = None
    if ours and theirs and ours["peak_rss_mib"] and theirs["peak_rss_mib"]:
        memory_ratio = round(ours["peak_rss_mib"] / theirs["peak_rss_mib"], 3)
    return {"case": case, "peer": peer or None, "cml": ours, "peer_result": theirs,
            "ratio": round(float(seconds) / float(peer_seconds), 3) if peer_seconds else None,
            "memory_ratio": memory_ratio}


def _cell(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def row_line(row: Row) -> str:
    """One row of the Markdown table of :data:`HEADER`."""
    record = row_record(row)
    ours, theirs = record["cml"], record["peer_result"]
    peer_text = _cell(theirs["median_seconds"]) if theirs else ("not installed" if row[1] else "")
    ratio = f"{record['ratio']:.2f}×" if record["ratio"] else ""
    memory_ratio = f"{record['memory_ratio']:.2f}×" if record["memory_ratio"] else ""
    return (f"| {row[0]} | {_cell(ours['median_seconds'])} | {_cell(ours['peak_rss_mib'], 0)} | {row[1]} | "
            f"{peer_text} | {_cell(theirs['peak_rss_mib'], 0) if theirs else ''} | {ratio} | {memory_ratio} |")


HEADER = ("| case | cml (s) | cml peak (MiB) | peer | peer (s) | peer peak (MiB) | cml / peer | memory cml / peer |\n"
          "|:--|--:|--:|:--|--:|--:|--:|--:|")


class Results:
    """Rows printed as they come (a Markdown table on ``stream``) and kept in a JSON file at ``output``, rewritten
    after every row; with ``as_json`` the table goes to stderr and the JSON document to stdout at :meth:`finish`."""

    def __init__(self, output: Path | None = None, as_json: bool = False, settings: Mapping[str, Any] | None = None):
        self.output, self.as_json = output, as_json
        self.stream = sys.stderr if as_json else sys.stdout
        self.records: list[dict[str, Any]] = []
        self.document: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0], "machine": platform.platform(), "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "settings": dict(settings or {}), "rows": self.records}
        print(HEADER, file=self.stream, flush=True)

    def add(self, row: Row) -> None:
        """Print ``row`` now and save every row so far."""
        record = row_record(row)
        if hasattr(os, "getloadavg"):
            record["load_average"] = round(os.getloadavg()[0], 2)  # once measured: how busy the machine was
        self.records.append(record)
        print(row_line(row), file=self.stream, flush=True)
        self._save()

    def extend(self, rows: Iterable[Row]) -> None:
        """:meth:`add` each of ``rows`` (a generator's rows are printed as it yields them)."""
        for row in rows:
            self.add(row)

    def _save(self) -> None:
        if self.output is None:
            return
        self.document["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        temporary = self.output.with_name(self.output.name + ".tmp")
        temporary.write_text(json.dumps(self.document, indent=2) + "\n")
        os.replace(temporary, self.output)

    def finish(self) -> None:
        """Save the file (also when no row was measured) and, with ``as_json``, print the document."""
        self._save()
        if self.output is not None:
            print(f"\nAll rows: {self.output}", file=sys.stderr, flush=True)
        if self.as_json:
            print(json.dumps(self.document, indent=2), flush=True)


def print_rows(rows: Sequence[Row], as_json: bool = False) -> None:
    """The rows as a Markdown table (with cml / peer ratios of time and peak memory) or as JSON."""
    results = Results(None, as_json)
    results.extend(rows)
    results.finish()


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit``, so the ``finally`` blocks and context managers that stop the
    servers and the running command's process group run however the benchmark is ended."""
    def leave(number: int, _frame: Any) -> None:
        raise SystemExit(128 + number)

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, leave)


def output_option(parser: argparse.ArgumentParser) -> None:
    """``--output FILE``, the JSON file of every row (``-`` for none)."""
    parser.add_argument("--output", default=DEFAULT_OUTPUT, metavar="FILE",
                        help=f"JSON file of every row: medians, samples, peak memory, ratios (default: ./{DEFAULT_OUTPUT}"
                             f" in the current folder; '-' for none); rewritten after each row")


def results_for(options: argparse.Namespace) -> Results:
    """The :class:`Results` that ``--output`` and ``--json`` ask for, with the options recorded."""
    output = None if options.output == "-" else Path(options.output).resolve()
    return Results(output, options.json, {key: value for key, value in vars(options).items()})


def run_alone(rows: Callable[[Path, int], Iterable[Row]], description: str, repeat: int = 3) -> None:
    """The ``main`` of a benchmark module run on its own: ``--repeat N``, ``--json`` and ``--output``, inputs in a
    temporary folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat, help="runs per case (the median is shown)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    output_option(parser)
    options = parser.parse_args()
    stop_on_signals()
    results = results_for(options)
    try:
        with tempfile.TemporaryDirectory() as folder:
            results.extend(rows(Path(folder), options.repeat))
    finally:
        results.finish()
