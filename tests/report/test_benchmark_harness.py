"""The benchmark's harness (benchmarks/measure.py) and floor scripts (benchmarks/floors/): each command's own peak
memory, alternation, nothing left running when interrupted, every row saved as it comes, and floors that compute
what scikit-learn computes and draw an image of cml's size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FLOORS = BENCHMARKS / "floors"
sys.path[:0] = [str(BENCHMARKS), str(FLOORS)]
try:  # scripts, not a package: importable from their folders, which are not left on the path
    import confusion
    import floor
    import measure
    import pr
    import roc
    import run
finally:
    del sys.path[:2]

MIB = 2**20
READERS = ("pyarrow", "pandas", "numpy")


def _scores_csv(path: Path, rows: int = 20_000) -> Path:
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, rows)
    scores = np.round(rng.random(rows) * 0.6 + truth * 0.4, 2)  # heavy ties
    np.savetxt(path, np.c_[truth, scores], delimiter=",", header="actual,score", comments="", fmt=["%d", "%.2f"])
    return path


def test_a_command_is_charged_its_own_peak_memory_not_the_benchmarks(tmp_path):
    ballast = bytearray(300 * MIB)  # the benchmark holding a lot (numpy, fakes) must not count for its commands
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    small, _ = measure.run_command([sys.executable, "-c", "pass"], tmp_path)
    large, completed = measure.run_command(
        [sys.executable, "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('done')"], tmp_path)
    assert small.peak_rss < 60 * MIB
    assert 200 * MIB <= large.peak_rss < 300 * MIB
    assert completed.stdout == "done\n" and small > 0 and small.samples == (float(small),)
    del ballast


def test_a_failing_command_stops_the_benchmark_with_its_error_output(tmp_path):
    with pytest.raises(SystemExit, match="status 3:\nbroken"):
        measure.run_command([sys.executable, "-c", "import sys; sys.stderr.write('broken'); sys.exit(3)"], tmp_path)
    measured, completed = measure.run_command(["sh", "-c", "exit 2"], tmp_path)  # 2: a failed gate, work done
    assert completed.returncode == 2


def test_interrupted_the_command_and_what_it_started_are_killed(tmp_path):
    marker = "31.4159"

    def interrupt(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(2)
    try:
        with pytest.raises(KeyboardInterrupt):
            measure.run_command(["sh", "-c", f"sleep {marker} & sleep {marker}; wait"], tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    time.sleep(0.5)
    left = [entry for entry in os.listdir("/proc") if entry.isdigit() and marker in _command_line(entry)]
    assert left == []
    assert measure.run_command([sys.executable, "-c", "print(1)"], tmp_path)[1].stdout == "1\n"  # a new spawner


def _command_line(pid: str) -> str:
    try:
        return Path("/proc", pid, "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_paired_cases_alternate_and_keep_every_sample(tmp_path):
    log = tmp_path / "order"
    ours = [["sh", "-c", f"echo a >> {log}"]]
    theirs = [["sh", "-c", f"echo b >> {log}"]]
    cml, peer = measure.paired(ours, theirs, tmp_path, 4)
    assert log.read_text().split() == list("abbaabba")
    assert len(cml.samples) == len(peer.samples) == 4 and float(cml) == float(np.median(cml.samples))
    three = measure.alternated({"x": [["sh", "-c", f"echo x >> {log}"]], "y": [["sh", "-c", f"echo y >> {log}"]],
                                "z": [["sh", "-c", f"echo z >> {log}"]]}, tmp_path, 3)
    assert log.read_text().split()[8:] == list("xyzyzxzxy") and set(three) == {"x", "y", "z"}


def test_every_row_is_printed_and_saved_as_it_comes(tmp_path, capsys):
    output = tmp_path / "results.json"
    results = measure.Results(output, settings={"repeat": 2})
    slow = measure.Measured([2.0, 4.0, 3.0], 300 * MIB)
    fast = measure.Measured([1.0, 1.5, 2.0], 200 * MIB)
    results.add(("plot line, 10^7 points", "floor", slow, fast))
    saved = json.loads(output.read_text())
    assert saved["settings"] == {"repeat": 2} and len(saved["rows"]) == 1
    row = saved["rows"][0]
    assert row["cml"] == {"median_seconds": 3.0, "samples_seconds": [2.0, 4.0, 3.0], "peak_rss_mib": 300.0}
    assert row["peer_result"]["median_seconds"] == 1.5 and row["ratio"] == 2.0 and row["memory_ratio"] == 1.5
    assert "| plot line, 10^7 points | 3.000 | 300 | floor | 1.500 | 200 | 2.00× | 1.50× |" in capsys.readouterr().out
    results.add(("cml --version", "", 0.2, None))
    results.finish()
    saved = json.loads(output.read_text())
    assert [row["case"] for row in saved["rows"]] == ["plot line, 10^7 points", "cml --version"]
    assert saved["rows"][1]["peer_result"] is None and saved["rows"][1]["ratio"] is None


@pytest.mark.parametrize("reader", READERS)
def test_floor_curves_equal_scikit_learns(tmp_path, reader):
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    truth, scores = floor.read_columns(str(_scores_csv(tmp_path / "scores.csv")), ["actual", "score"], reader=reader)
    fpr, tpr, area = roc.roc(truth, scores)
    precision, recall, average = pr.precision_recall(truth, scores)
    assert area == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert average == pytest.approx(average_precision_score(truth, scores), abs=1e-12)
    expected_fpr, expected_tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected_fpr)
    np.testing.assert_allclose(tpr, expected_tpr)
    expected_precision, expected_recall, _ = precision_recall_curve(truth, scores, drop_intermediate=False)
    np.testing.assert_allclose(precision, expected_precision)
    np.testing.assert_allclose(recall, expected_recall)


def test_floor_reading_with_pyarrow_does_not_import_pandas(tmp_path):
    data = _scores_csv(tmp_path / "scores.csv")
    labels = tmp_path / "labels.csv"
    labels.write_text("actual,predicted\nb,a\na,a\n")
    code = (f"import sys; sys.path.insert(0, {str(FLOORS)!r}); import floor; "
            f"truth, scores = floor.read_columns({str(data)!r}, ['actual', 'score'], reader='pyarrow'); "
            f"actual, predicted = floor.read_columns({str(labels)!r}, ['actual', 'predicted'], text=True); "
            f"floor.encode_labels(actual, predicted); print(scores.dtype, 'pandas' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert completed.stdout.split() == ["float64", "False"]


@pytest.mark.parametrize("reader", READERS)
def test_floor_confusion_encodes_labels_in_sorted_order(tmp_path, reader):
    path = tmp_path / "labels.csv"
    path.write_text("actual,predicted\nb,a\nc,c\na,a\nb,b\nc,a\n")
    actual, predicted = floor.read_columns(str(path), ["actual", "predicted"], text=True, reader=reader)
    classes, actual_codes, predicted_codes = floor.encode_labels(actual, predicted)
    assert classes == ["a", "b", "c"]
    assert list(actual_codes) == [1, 2, 0, 1, 2] and list(predicted_codes) == [0, 2, 0, 1, 0]


@pytest.mark.parametrize("kind", ["line", "roc", "pr", "confusion"])
def test_floor_script_draws_an_image_of_cmls_size(tmp_path, kind):
    from PIL import Image

    if kind == "confusion":
        data = tmp_path / "labels.csv"
        rng = np.random.default_rng(3)
        data.write_text("actual,predicted\n" + "".join(f"c{a},c{(a + (rng.random() < 0.2)) % 50}\n"
                                                        for a in rng.integers(0, 50, 5000)))
    elif kind == "line":
        data = tmp_path / "curve.csv"
        data.write_text("step,loss\n" + "".join(f"{step},{1 / (step + 1):.5f}\n" for step in range(10_000)))
    else:
        data = _scores_csv(tmp_path / "scores.csv")
    like = tmp_path / "cml.png"
    Image.new("RGB", (700, 610), "white").save(like)
    output = tmp_path / "floor.png"
    subprocess.run([sys.executable, str(FLOORS / f"{kind}.py"), str(data), "-o", str(output), "--size-like",
                    str(like)], check=True, capture_output=True, timeout=120)
    image = np.asarray(Image.open(output).convert("RGB"))
    assert image.shape[:2] == (610, 700)
    assert image.std() > 10  # something is drawn


def test_floor_pools_a_large_matrix_to_the_pixels_keeping_the_largest_count():
    counts = np.zeros((3000, 3000), dtype=np.int64)
    counts[1234, 2345] = 7
    shown = confusion.pooled(counts, 800)
    assert shown.shape == (800, 800) and shown.max() == 7 and np.count_nonzero(shown) == 1


def test_plots_are_compared_with_the_fastest_floor_and_the_least_memory_of_any():
    floors = {"numpy": measure.Measured([1.0, 1.2], 100 * MIB), "pandas": measure.Measured([0.8, 0.9], 300 * MIB)}
    peer, best = run.best_floor(floors, "matplotlib (line.py)")
    assert float(best) == pytest.approx(0.85) and best.peak_rss == 100 * MIB
    assert peer == "floor: fastest of numpy/pandas readers (pandas; memory: numpy's) + matplotlib (line.py)"
