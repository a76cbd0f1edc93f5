"""Time cml on large inputs, each case paired with its peer (DVC, a floor script, MLflow's client) where it has one.

Run from the project root after installing cml (and, for the comparison, DVC):

    python -m pip install -e '.[bench,test]'
    python benchmarks/run.py                      # Markdown table, a row printed as soon as it is measured
    python benchmarks/run.py --only scale         # 10^7-row plots and 3,000 classes, beside their floors
    python benchmarks/run.py --json               # the JSON document on stdout (the table on stderr)

Every case runs the installed ``cml`` command as a subprocess, the way a CI job does, in a process group of its
own, and reports the median wall time and the peak resident memory of several runs; a case with a peer alternates
the two. Every row is also written to ``--output`` (default ``./benchmark-results.json``) as soon as it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from dvc_plots import dvc_plot_rows
from history import history_rows
from measure import (
    CML,
    Measured,
    Row,
    alternated,
    output_option,
    paired,
    results_for,
    run_command,
    stop_on_signals,
    timed,
)
from report_create import report_create_rows

FLOORS = Path(__file__).resolve().parent / "floors"
DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")
GROUPS = ("startup", "metrics", "plots", "scale", "services", "hostile", "reports")
#: What the default run leaves out: it takes much longer and needs a few GB of memory.
NOT_BY_DEFAULT = ("scale",)
#: Groups of slow cases that the default run repeats half as often as ``--repeat`` (in full with ``--only``).
HALVED_BY_DEFAULT = ("hostile", "reports")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_metrics_repo(root: Path, files: int = 3, metrics_per_file: int = 100) -> Path:
    """A git repository with a dvc.yaml naming ``files`` metrics files (``metrics_per_file`` nested metrics each, in
    10 groups), every metric changed since HEAD."""
    import yaml

    repo = root / f"metrics-repo-{files}x{metrics_per_file}"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    names = [f"eval/metrics_{i}.json" for i in range(files)]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"metrics": names}))
    (repo / "eval").mkdir()
    groups = min(10, metrics_per_file)

    def write(shift: float) -> None:
        for name in names:
            values = {f"group{g}": {f"accuracy_{m}": round(0.5 + shift + (g * m % 7) / 100, 4)
                                    for m in range(metrics_per_file // groups)} for g in range(groups)}
            (repo / name).write_text(json.dumps(values))

    write(0.0)
    if DVC:
        subprocess.run([DVC, "init", "-q"], cwd=repo, check=True, capture_output=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=repo, check=True, env=env)
    write(0.01)
    return repo


def write_numeric_csv(path: Path, header: str, columns: list, decimals: int = 5) -> Path:
    """A CSV of integer and float ``columns`` (floats rounded to ``decimals``); pyarrow writes 10^7 rows in seconds,
    numpy's ``savetxt`` is the fallback."""
    import numpy as np

    columns = [column if column.dtype.kind in "iub" else np.round(column, decimals) for column in columns]
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
    except ImportError:
        formats = ["%d" if column.dtype.kind in "iub" else f"%.{decimals}f" for column in columns]
        np.savetxt(path, np.c_[tuple(columns)], delimiter=",", header=header, comments="", fmt=formats)
        return path
    names = header.split(",")
    with open(path, "wb") as handle:
        handle.write(header.encode() + b"\n")
        pa_csv.write_csv(pa.table(dict(zip(names, columns))), handle, pa_csv.WriteOptions(include_header=False))
    return path


def make_curve(root: Path, rows: int) -> Path:
    """``step,loss``: a decaying, noisy training curve of ``rows`` steps."""
    import numpy as np

    rng = np.random.default_rng(0)
    steps = np.arange(rows)
    loss = np.exp(-steps / (rows * 0.3)) + rng.normal(0, 0.02, rows)
    return write_numeric_csv(root / f"curve-{rows}.csv", "step,loss", [steps, loss])


def make_scores(root: Path, rows: int) -> Path:
    """``actual,score``: binary labels and a score that separates them partly."""
    import numpy as np

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, rows)
    scores = rng.random(rows) * 0.7 + truth * 0.3
    return write_numeric_csv(root / f"scores-{rows}.csv", "actual,score", [truth, scores])


def make_confusion(root: Path, classes: int, samples: int) -> Path:
    """``actual,predicted`` of ``samples`` labels ``class<n>`` among ``classes``, 80% right."""
    import numpy as np

    rng = np.random.default_rng(2)
    actual = rng.integers(0, classes, samples)
    predicted = np.where(rng.random(samples) < 0.8, actual, rng.integers(0, classes, samples))
    path = root / f"confusion-{classes}x{samples}.csv"
    with open(path, "w") as handle:
        handle.write("actual,predicted\n")
        handle.writelines(f"class{a},class{p}\n" for a, p in zip(actual.tolist(), predicted.tolist()))
    return path


def _rows_text(rows: int) -> str:
    exponent = len(str(rows)) - 1
    return f"10^{exponent}" if rows == 10**exponent else f"{rows:,}"


def floor_command(kind: str, data: Path, like: Path, output: Path, reader: str = "auto") -> list[str]:
    """The floor script of ``kind`` on ``data`` reading with ``reader``, drawing an image of the size of cml's
    ``like``."""
    return [sys.executable, str(FLOORS / f"{kind}.py"), str(data), "-o", str(output), "--size-like", str(like),
            "--reader", reader]


def floor_readers() -> list[str]:
    """The CSV readers the floor scripts can use here: numpy's always, pandas' and pyarrow's when installed."""
    readers = ["numpy"]
    for module, name in (("pandas", "pandas"), ("pyarrow.csv", "pyarrow")):
        try:
            __import__(module)
        except ImportError:
            continue
        readers.append(name)
    return readers


def best_floor(measured: Mapping[str, Measured], what: str) -> tuple[str, Measured]:
    """The floor to compare with, from one floor run per reader: the fastest reader's times, and the least peak
    memory of any reader (each the hardest figure to meet), with a description naming them."""
    fastest = min(measured, key=lambda reader: float(measured[reader]))
    peaks = {reader: run.peak_rss for reader, run in measured.items() if run.peak_rss is not None}
    leanest = min(peaks, key=peaks.__getitem__) if peaks else fastest
    best = Measured(measured[fastest].samples, peaks.get(leanest))
    memory = "" if leanest == fastest else f"; memory: {leanest}'s"
    return f"floor: fastest of {'/'.join(measured)} readers ({fastest}{memory}) + {what}", best


def plot_floor_rows(root: Path, kind: str, data: Path, description: str, repeat: int,
                    options: tuple[str, ...] = ()) -> Iterator[Row]:
    """``cml plot KIND`` on ``data`` alternated with its floor script reading with every installed reader, each
    drawing an image of the same size; compared with the fastest floor and the least memory a floor took."""
    image = root / f"cml-{kind}-{data.stem}.png"
    run_command([*CML, "plot", kind, str(data), *options, "-o", str(image)], root)  # the size the floors draw
    sequences = {"cml": [[*CML, "plot", kind, str(data), *options, "-o", str(image)]]}
    for reader in floor_readers():
        sequences[reader] = [floor_command(kind, data, image, root / f"floor-{kind}-{data.stem}.png", reader)]
    measured = alternated(sequences, root, repeat)
    ours = measured.pop("cml")
    peer, floor = best_floor(measured, f"matplotlib ({kind}.py)")
    yield (f"plot {kind}, {description}", peer, ours, floor)


def startup_rows(root: Path, repeat: int) -> Iterator[Row]:
    """Interpreter and command start-up: ``cml --help`` and ``cml metrics diff --help`` beside ``import click``."""
    yield ("python -c pass (interpreter start-up, for reference)", "", timed([sys.executable, "-c", "pass"], root,
                                                                             repeat), None)
    yield ("cml --version", "", timed([*CML, "--version"], root, repeat), None)
    click = [sys.executable, "-c", "import click"]
    measured = alternated({"help": [[*CML, "--help"]], "diff": [[*CML, "metrics", "diff", "--help"]],
                           "click": [click]}, root, repeat)
    yield ("cml --help", "python -c 'import click'", measured["help"], measured["click"])
    yield ("cml metrics diff --help", "python -c 'import click'", measured["diff"], measured["click"])


def metrics_rows(root: Path, repeat: int) -> Iterator[Row]:
    """``cml metrics diff --md HEAD`` beside ``dvc metrics diff --md HEAD`` on 3 × 10, 3 × 100 and 10 × 1,000
    metrics."""
    for files, metrics in ((3, 10), (3, 100), (10, 1000)):
        repo = make_metrics_repo(root, files, metrics)
        peer = [[DVC, "metrics", "diff", "--md", "HEAD"]] if DVC else None
        ours, theirs = paired([[*CML, "metrics", "diff", "--md", "HEAD"]], peer, repo, repeat)
        yield (f"metrics diff --md, {files} files × {metrics:,} metrics vs HEAD", "dvc metrics diff --md", ours, theirs)


def plot_rows(root: Path, repeat: int) -> Iterator[Row]:
    """The plots at 10^6 rows (1,000 classes × 200,000 samples for the confusion matrix), each beside its floor,
    and ``plot roc``/``pr`` beside ``plot line`` at 10^5 rows."""
    slow = max(1, repeat // 2)
    yield from plot_floor_rows(root, "confusion", make_confusion(root, 1000, 200_000),
                               "1,000 classes, 200,000 samples", slow)
    curve, scores = make_curve(root, 10**6), make_scores(root, 10**6)
    yield from plot_floor_rows(root, "line", curve, "10^6 points", slow)
    yield from plot_floor_rows(root, "roc", scores, "10^6 scores", slow)
    yield from plot_floor_rows(root, "pr", scores, "10^6 scores", slow)
    yield from curve_beside_line_rows(root, 10**5, repeat)


def curve_beside_line_rows(root: Path, rows: int, repeat: int) -> Iterator[Row]:
    """``plot roc`` and ``plot pr`` on ``rows`` binary scores alternated with ``plot line`` on ``rows`` points."""
    curve, scores = make_curve(root, rows), make_scores(root, rows)
    measured = alternated({kind: [[*CML, "plot", kind, str(data), "-o", str(root / f"{kind}-{rows}.png")]]
                           for kind, data in (("line", curve), ("roc", scores), ("pr", scores))}, root, repeat)
    for kind in ("roc", "pr"):
        yield (f"plot {kind}, {_rows_text(rows)} scores", f"cml plot line, {_rows_text(rows)} points", measured[kind],
               measured["line"])


def scale_rows(root: Path, repeat: int) -> Iterator[Row]:
    """``plot line|roc|pr`` at 10^6 and 10^7 rows and ``plot confusion`` at 100 and 3,000 classes × 10^6 samples,
    each beside its floor (with peak memory); the 3,000-class matrix also beside the 100-class one."""
    for rows in (10**6, 10**7):
        curve, scores = make_curve(root, rows), make_scores(root, rows)
        yield from plot_floor_rows(root, "line", curve, f"{_rows_text(rows)} points", repeat)
        yield from plot_floor_rows(root, "roc", scores, f"{_rows_text(rows)} scores", repeat)
        yield from plot_floor_rows(root, "pr", scores, f"{_rows_text(rows)} scores", repeat)
        for path in (curve, scores):
            path.unlink()
    yield from curve_beside_line_rows(root, 10**5, repeat)
    sequences = {}
    for classes in (3000, 100):
        data = make_confusion(root, classes, 10**6)
        image = root / f"cml-confusion-{classes}.png"
        command = [*CML, "plot", "confusion", str(data), "--max-classes", str(classes), "-o", str(image)]
        run_command(command, root)  # the size the floors draw
        sequences[f"cml {classes}"] = [command]
        for reader in floor_readers():
            sequences[f"{reader} {classes}"] = [floor_command("confusion", data, image, root / f"floor-{classes}.png",
                                                              reader)]
    measured = alternated(sequences, root, repeat)
    for classes in (100, 3000):
        floors = {reader: measured[f"{reader} {classes}"] for reader in floor_readers()}
        peer, floor = best_floor(floors, "bincount + matplotlib (confusion.py)")
        yield (f"plot confusion, {classes:,} classes, 10^6 samples (--max-classes {classes})", peer,
               measured[f"cml {classes}"], floor)
    yield ("plot confusion, 3,000 classes, 10^6 samples", "cml plot confusion, 100 classes, 10^6 samples",
           measured["cml 3000"], measured["cml 100"])


def make_report(root: Path) -> Path:
    """A report linking 50 copies of a line plot."""
    folder = root / "preview"
    (folder / "plots").mkdir(parents=True)
    run_command([*CML, "plot", "line", str(make_curve(root, 1000)), "-o", str(folder / "plots" / "curve_0.png")], root)
    lines = ["# Report with 50 images", ""]
    for index in range(50):
        if index:
            shutil.copy(folder / "plots" / "curve_0.png", folder / "plots" / f"curve_{index}.png")
        lines.append(f"![curve {index}](plots/curve_{index}.png)")
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    return folder


def make_publish_report(root: Path, plot: bytes, images: int = 50, distinct: int = 40) -> Path:
    """A report linking ``images`` PNGs of which ``distinct`` have different bytes."""
    folder = root / "publish"
    (folder / "plots").mkdir(parents=True)
    lines = [f"# Report with {images} images ({distinct} distinct)", ""]
    for index in range(images):
        (folder / "plots" / f"p{index}.png").write_bytes(plot + f"variant {index % distinct}".encode())
        lines.append(f"![plot {index}](plots/p{index}.png)")
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    return folder


def _github_env(server, fake, folder: Path) -> dict[str, str]:
    event = folder / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "a" * 40}}}))
    return {**os.environ, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": server.url,
            "GITHUB_SERVER_URL": server.url, "GITHUB_REPOSITORY": fake.repository,
            "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": "ghs_benchmark_token_0000"}


def publish_runs(folder: Path, repeat: int) -> tuple[Measured, dict[str, int]]:
    """``cml comment create`` publishing to a fresh fake GitHub each time (Git Data API on a real bare repository,
    on loopback), and the requests of one run by kind."""
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    runs: list[Measured] = []
    counts: dict[str, int] = {}
    for attempt in range(repeat):
        fake = FakeGitHub()
        fake.add_token("ghs_benchmark_token_0000", "github-actions[bot]")
        with FakeForgeServer(fake) as server:
            fake.base_url = server.url
            fake.enable_git_data(str(folder / f"github-{attempt}.git"))
            measured, _ = run_command([*CML, "comment", "create", "report.md", "--no-summary"], folder,
                                      _github_env(server, fake, folder))
            runs.append(measured)
            counts = {}
            for request in server.requests:
                kind = f"{request.method} {'/'.join(request.path.split('/')[4:6])}"
                counts[kind] = counts.get(kind, 0) + 1
    return Measured([float(run) for run in runs], max(run.peak_rss or 0 for run in runs)), counts


def services_rows(root: Path, repeat: int) -> Iterator[Row]:
    """``report preview``, publishing, the runner commands on moto and the MLflow cases."""
    slow = max(1, repeat // 2)
    folder = make_report(root)
    yield ("report preview, 50 images inlined", "", timed([*CML, "report", "preview", "report.md"], folder, repeat),
           None)
    publish_seconds, requests = publish_runs(
        make_publish_report(root, (folder / "plots" / "curve_0.png").read_bytes()), slow)
    yield (f"comment create, 50 images (40 distinct) published to a GitHub branch on loopback: {_counted(requests)}",
           "", publish_seconds, None)
    yield from runner_rows(root)
    yield from tracker_rows(root, slow)


ADVERSARIAL_PATTERNS = ("[", "[a](", "![", "`", "<img src=", "[[[[]]]](")


def make_adversarial_reports(root: Path, size: int = 1_000_000) -> Path:
    """1 MB reports built to make a link scanner quadratic (one per pattern), and a plain 1 MB report of the
    same size as the floor."""
    folder = root / "hostile"
    folder.mkdir()
    for index, pattern in enumerate(ADVERSARIAL_PATTERNS):
        (folder / f"adversarial-{index}.md").write_text("# Report\n\n" + pattern * (size // len(pattern)) + "\n")
    sentence = "The model was trained for ten epochs and reached a validation accuracy of 0.93. "
    (folder / "plain.md").write_text("# Report\n\n" + sentence * (size // len(sentence)) + "\n")
    return folder


def hostile_rows(root: Path, repeat: int) -> Iterator[Row]:
    """Reports and inputs an attacker would send: each adversarial report posted to a fake GitHub on loopback,
    alternated with a plain report of the same size (the floor), ``comment update`` on a pull request with 1,000
    comments (with its requests), and 50,000 classes (with peak memory)."""
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    # 400 KB: a byte is at most one unit of markup, so none is refused (cml.report.truncate.MAX_MARKUP, 400,000)
    folder = make_adversarial_reports(root, 400_000)
    fake = FakeGitHub()
    fake.add_token("ghs_benchmark_token_0000", "github-actions[bot]")
    with FakeForgeServer(fake) as server:
        fake.base_url = server.url
        fake.enable_git_data(str(folder / "github.git"))  # a report past the comment limit is published whole
        env = _github_env(server, fake, folder)

        def post(name: str, command: str = "create") -> list[str]:
            return [*CML, "comment", command, name, "--no-summary", "--skip-missing"]

        for index, pattern in enumerate(ADVERSARIAL_PATTERNS):
            ours, theirs = paired([post(f"adversarial-{index}.md")], [post("plain.md")], folder, repeat, env)
            yield (f"comment create, 400 KB report of {pattern!r} repeated (scanned for links)",
                   "the same command on 400 KB of plain prose (floor)", ours, theirs)
        # a flood with nothing to find is not parsed; one with a link is, at some 200 bytes a cmark node, up to
        # MAX_MARKUP units of markup (a "[" is one): past it, it is refused before cmark (the row below)
        floods = {"'<' repeated": "<" * 1_000_000, "one line of '>' (nested quotes)": ">" * 1_000_000 + " x",
                  "'[' repeated (within the markup limit), then one link": "[" * 390_000 + "](x.png)"}
        for index, (name, flood) in enumerate(floods.items()):
            (folder / f"flood-{index}.md").write_text("# Report\n\n" + flood + "\n")
            ours, theirs = paired([post(f"flood-{index}.md")], [post("plain.md")], folder, repeat, env)
            yield (f"comment create, {len(flood) // 1000:,} KB report: {name}",
                   "the same command on 400 KB of plain prose (floor)", ours, theirs)
        (folder / "refused.md").write_text("# Report\n\n" + "[" * (8_000_000) + "](x.png)\n")
        refused = [run_command(post("refused.md"), folder, env, check=False) for _ in range(repeat)]
        assert all(completed.returncode == 1 for _, completed in refused), refused[0][1].stderr
        yield ("comment create, 8 MB of '[' then one link: refused on its line (cmark dies at its child's memory limit)", "",
               Measured([run.samples[0] for run, _ in refused], max(run.peak_rss or 0 for run, _ in refused)), None)
        for index in range(999):
            fake.add_comment(7, f"review comment {index}", "reviewer")
        (folder / "update.md").write_text("# Report\n\nupdated\n")
        run_command(post("update.md", "update"), folder, env)
        server.requests.clear()
        seconds = timed(post("update.md", "update"), folder, repeat, env)
        kinds: dict[str, int] = {}
        for request in server.requests[: len(server.requests) // repeat]:
            kind = f"{request.method} {request.path.rsplit('/', 1)[-1]}"
            kinds[kind] = kinds.get(kind, 0) + 1
        yield (f"comment update on a pull request with 1,000 comments: {_counted(kinds)}", "", seconds, None)
    yield _many_classes_row(root)


def _many_classes_row(root: Path) -> Row:
    """``cml plot confusion`` on 50,000 classes × 300,000 rows, once (its peak memory is the figure to watch)."""
    import random

    rng = random.Random(0)
    path = root / "classes-50000.csv"
    with path.open("w") as handle:
        handle.write("actual,predicted\n")
        for _ in range(300_000):
            actual = rng.randrange(50_000)
            handle.write(f"c{actual},c{actual if rng.random() < 0.8 else rng.randrange(50_000)}\n")
    measured, _ = run_command([*CML, "plot", "confusion", str(path), "-o", str(root / "cm-50000.png")], root)
    return "plot confusion, 50,000 classes, 300,000 rows (one run)", "", measured, None


def _counted(requests_by_kind: dict[str, int]) -> str:
    return f"{sum(requests_by_kind.values())} requests ({', '.join(f'{n} {k}' for k, n in sorted(requests_by_kind.items()))})"


def runner_rows(root: Path) -> Iterator[Row]:
    """``cml runner launch`` until the runner is online, then ``list`` and ``stop --all`` over 50 machines, against
    moto's EC2 server and a fake GitHub on loopback (machines "boot" instantly, so this is cml's own overhead)."""
    import boto3

    from tests.fakes.ec2 import Ec2Proxy, MachineFleet, MotoServer
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    (root / "moto").mkdir()
    with MotoServer(root / "moto") as moto, Ec2Proxy(moto.url) as proxy:
        fake = FakeGitHub()
        fake.add_token("ghp_benchmark_admin_token", "admin")
        with FakeForgeServer(fake) as server:
            fake.base_url = server.url
            credentials = {"AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000001", "AWS_SECRET_ACCESS_KEY": "benchmark-secret"}
            ec2 = boto3.client("ec2", region_name="us-west-1", endpoint_url=moto.url, **{
                "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"]})
            env = {**os.environ, **credentials, "AWS_ENDPOINT_URL": proxy.url, "CI": "true", "GITHUB_ACTIONS": "true",
                   "GITHUB_API_URL": server.url, "GITHUB_SERVER_URL": "https://github.test",
                   "GITHUB_REPOSITORY": fake.repository, "REPO_TOKEN": "ghp_benchmark_admin_token"}

            def run(*args: str) -> Measured:
                return run_command([*CML, "runner", *args], root, env)[0]

            def requests_since(forge_mark: int, ec2_mark: int) -> dict[str, int]:
                counts: dict[str, int] = {}
                for request in server.requests[forge_mark:]:
                    path = re.sub(r"/\d+", "/{id}", request.path.rsplit("/actions/runners", 1)[-1])
                    kind = f"{request.method} runners{path}"
                    counts[kind] = counts.get(kind, 0) + 1
                for params in proxy.requests[ec2_mark:]:
                    counts[params.get("Action", "?")] = counts.get(params.get("Action", "?"), 0) + 1
                return counts

            with MachineFleet([ec2], {"github": fake}):
                seconds = run("launch", "--cloud", "aws", "--single", "--name", "bench-0", "--cloud-type", "g4dn.xlarge")
            yield (f"runner launch until online (GitHub just-in-time, EC2 on moto): {_counted(requests_since(0, 0))}",
                   "", seconds, None)
            for index in range(1, 50):
                ec2.run_instances(ImageId="ami-0d1a0000000000002", InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
                                  TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                      {"Key": "cml:runner", "Value": f"bench-{index}"}]}])
                fake.runner_store.create(f"bench-{index}", ["cml"])
            marks = len(server.requests), len(proxy.requests)
            seconds = run("list", "--json")
            yield f"runner list, 50 machines: {_counted(requests_since(*marks))}", "", seconds, None
            marks = len(server.requests), len(proxy.requests)
            seconds = run("stop", "--all")
            yield (f"runner stop --all, 50 machines and registrations: {_counted(requests_since(*marks))}", "", seconds,
                   None)


class _Forwarding:
    """A fake-server app that forwards every request to ``upstream`` (to count what a command sends); an upstream
    that cannot answer gives a 502, which cml's retry policy treats as transient."""

    def __init__(self, upstream: str):
        self.upstream = upstream

    def handle(self, request):
        import requests

        from tests.fakes.server import Response

        try:
            answer = requests.request(request.method, self.upstream + request.path, params=request.query,
                                      data=request.body,
                                      headers={"Content-Type": request.headers.get("Content-Type", "")}, timeout=300)
        except requests.RequestException as error:
            return Response(502, f"upstream did not answer: {error}".encode())
        return Response(answer.status_code, answer.content)


def tracker_rows(root: Path, repeat: int) -> Iterator[Row]:
    """``cml metrics diff`` and ``cml plot line`` on two MLflow runs with 1,000 metrics and a 10^5-step history each,
    against a real tracking server on loopback, alternated with MLflow's own client fetching the same data."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from tests.fakes.server import FakeForgeServer
    from tests.fakes.tracking import TrackingServer

    (root / "mlflow").mkdir()
    with TrackingServer(root / "mlflow") as tracking, FakeForgeServer(_Forwarding(tracking.url)) as proxy:
        client = MlflowClient(tracking.url)
        experiment = client.create_experiment("benchmark")
        runs = []
        for shift in (0.0, 0.01):
            run_id = client.create_run(experiment).info.run_id
            client.log_batch(run_id, metrics=[Metric(f"metric_{i:04d}", i / 1000 + shift, 0, 0) for i in range(1000)])
            for start in range(0, 100_000, 1000):
                client.log_batch(run_id, metrics=[Metric("loss", 1 / (step + 1) + shift, step, step)
                                                  for step in range(start, start + 1000)])
            runs.append(run_id)
        env = {**os.environ, "MLFLOW_TRACKING_URI": proxy.url}
        fetch = "import sys; from mlflow.tracking import MlflowClient; c = MlflowClient(sys.argv[1]); "
        cases = [
            ("metrics diff of two MLflow runs, 1,000 metrics each", "MlflowClient().get_run × 2",
             ["metrics", "diff", "--mlflow-run", runs[1], "--mlflow-base-run", runs[0], "--json"],
             "[c.get_run(r) for r in sys.argv[2:]]"),
            ("plot line of a 10^5-step MLflow history with the base run's overlaid",
             "MlflowClient().get_metric_history × 2",
             ["plot", "line", "--mlflow-run", runs[1], "--mlflow-base-run", runs[0], "-y", "loss", "-o", "loss.png"],
             "[c.get_metric_history(r, 'loss') for r in sys.argv[2:]]"),
        ]
        for case, peer_name, arguments, peer_code in cases:
            mark = len(proxy.requests)
            ours, theirs = paired([[*CML, *arguments]], [[sys.executable, "-c", fetch + peer_code, tracking.url, *runs]],
                                  root, repeat, env)
            count = (len(proxy.requests) - mark) // repeat  # only cml goes through the counting proxy
            yield f"{case}: {count} requests", peer_name, ours, theirs


def report_rows(root: Path, repeat: int) -> Iterator[Row]:
    """Issue 17's report features, each paired with its peer: metric history over 100 commits, ``plot dvc`` on 10
    definitions, ``report create`` end to end."""
    yield from history_rows(root, repeat)
    yield from dvc_plot_rows(root, repeat)
    yield from report_create_rows(root, repeat)


ROWS = {"startup": startup_rows, "metrics": metrics_rows, "plots": plot_rows, "scale": scale_rows,
        "services": services_rows, "hostile": hostile_rows, "reports": report_rows}


def compile_cml() -> None:
    """Byte-compile cml as ``pip install`` does, so that start-up is measured as users get it, also from a
    source checkout or an editable install run with ``PYTHONDONTWRITEBYTECODE`` (which would otherwise compile
    every module on every run, while click and numpy load from their installed bytecode)."""
    import compileall

    import cml

    compileall.compile_dir(str(Path(cml.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (the median is reported); the slower "
                        "default cases run half as many, --only scale runs each case this many times")
    parser.add_argument("--json", action="store_true", help="print the JSON document on stdout (the table on stderr)")
    parser.add_argument("--only", choices=GROUPS, action="append",
                        help="run only these groups (repeatable): startup, metrics (diff beside DVC), plots (10^6 rows "
                             "beside the floors), scale (10^7 rows and 3,000 classes beside the floors: minutes, GBs; "
                             "not in the default run), services (preview, publishing, runners on moto, MLflow), hostile "
                             "(attacker-built inputs), reports (metric history, plot dvc, report create)")
    output_option(parser)
    options = parser.parse_args()
    stop_on_signals()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test fakes serve the forge and cloud cases
    groups = options.only or [group for group in GROUPS if group not in NOT_BY_DEFAULT]
    compile_cml()
    results = results_for(options)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for group in groups:
                root = Path(folder) / group
                root.mkdir()
                halved = not options.only and group in HALVED_BY_DEFAULT
                results.extend(ROWS[group](root, max(1, options.repeat // 2) if halved else options.repeat))
    finally:
        results.finish()


if __name__ == "__main__":
    main()
