"""Timing shared by the benchmark scripts: subprocess runs the way a CI job calls ``cml``, paired with a peer."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CML = [sys.executable, "-m", "cml"]
#: A command's exit statuses that still mean it did its work (2: a failed quality gate, the report written).
SUCCESS = (0, 2)
#: ``(case, peer, cml seconds, peer seconds or None)``.
Row = tuple[str, str, float, "float | None"]


def run_sequence(commands: Sequence[Sequence[str]], cwd: Path) -> float:
    """Wall time of running ``commands`` one after another; a failing command aborts the benchmark."""
    started = time.perf_counter()
    for command in commands:
        completed = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True)
        if completed.returncode not in SUCCESS:
            raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr}")
    return time.perf_counter() - started


def timed(command: Sequence[str], cwd: Path, repeat: int) -> float:
    """Median wall time of ``command`` over ``repeat`` runs."""
    return statistics.median(run_sequence([command], cwd) for _ in range(repeat))


def paired(commands: Sequence[Sequence[str]], peer: Sequence[Sequence[str]] | None, cwd: Path,
           repeat: int) -> tuple[float, float | None]:
    """Median wall times of ``commands`` and of ``peer`` (each a sequence run in order), measured alternately
    so that both see the same load on a shared machine."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(repeat):
        ours.append(run_sequence(commands, cwd))
        if peer:
            theirs.append(run_sequence(peer, cwd))
    return statistics.median(ours), statistics.median(theirs) if theirs else None


def print_rows(rows: Sequence[Row], as_json: bool = False) -> None:
    """The rows as a Markdown table (with peer/cml ratios) or as JSON."""
    if as_json:
        print(json.dumps([{"case": c, "peer": p, "cml_seconds": round(t, 3),
                           "peer_seconds": None if d is None else round(d, 3)} for c, p, t, d in rows], indent=2))
        return
    print("| case | cml (s) | peer | peer (s) | peer / cml |")
    print("|:--|--:|:--|--:|--:|")
    for case, peer, seconds, peer_seconds in rows:
        ratio = f"{peer_seconds / seconds:.2f}×" if peer_seconds else ""
        peer_text = f"{peer_seconds:.3f}" if peer_seconds else ("not installed" if peer else "")
        print(f"| {case} | {seconds:.3f} | {peer} | {peer_text} | {ratio} |")


def run_alone(rows: Callable[[Path, int], list[Row]], description: str, repeat: int = 3) -> None:
    """The ``main`` of a benchmark module run on its own: ``--repeat N`` and ``--json``, inputs in a temporary
    folder."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat, help="runs per case (the median is shown)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print_rows(rows(Path(folder), options.repeat), options.json)
