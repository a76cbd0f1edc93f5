"""Time cml on large inputs, side by side with DVC where DVC does the same job.

Run from the project root after installing cml (and, for the comparison, DVC):

    python -m pip install -e '.[bench,test]'
    python benchmarks/run.py            # prints a Markdown table
    python benchmarks/run.py --json     # machine-readable

Every case runs the installed ``cml`` command as a subprocess, the way a CI job
does, and reports the median wall time of several runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dvc_plots import dvc_plot_rows
from history import history_rows
from measure import CML, print_rows, timed
from report_create import report_create_rows




def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_metrics_repo(root: Path, files: int = 3, metrics_per_file: int = 100) -> Path:
    """A git repository with a dvc.yaml naming ``files`` metrics files, changed since HEAD."""
    import yaml

    repo = root / "metrics-repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    names = [f"eval/metrics_{i}.json" for i in range(files)]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"metrics": names}))
    (repo / "eval").mkdir()

    def write(shift: float) -> None:
        for name in names:
            values = {f"group{g}": {f"accuracy_{m}": round(0.5 + shift + (g * m % 7) / 100, 4)
                                    for m in range(metrics_per_file // 10)} for g in range(10)}
            (repo / name).write_text(json.dumps(values))

    write(0.0)
    if shutil.which("dvc"):
        subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, capture_output=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=repo, check=True, env=env)
    write(0.01)
    return repo


def make_inputs(root: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    samples = 200_000
    actual = rng.integers(0, 1000, samples)
    predicted = np.where(rng.random(samples) < 0.8, actual, rng.integers(0, 1000, samples))
    with open(root / "confusion.csv", "w") as handle:
        handle.write("actual,predicted\n")
        handle.writelines(f"class{a},class{p}\n" for a, p in zip(actual, predicted))
    steps = np.arange(1_000_000)
    loss = np.exp(-steps / 300_000) + rng.normal(0, 0.02, steps.size)
    np.savetxt(root / "curve.csv", np.c_[steps, loss], delimiter=",", header="step,loss", comments="", fmt=["%d", "%.5f"])
    truth = rng.integers(0, 2, 1_000_000)
    scores = rng.random(truth.size) * 0.7 + truth * 0.3
    np.savetxt(root / "scores.csv", np.c_[truth, scores], delimiter=",", header="actual,score", comments="", fmt=["%d", "%.5f"])
    plots = root / "plots"
    plots.mkdir()
    subprocess.run([*CML, "plot", "line", "curve.csv", "-o", "plots/curve_0.png"], cwd=root, check=True,
                   capture_output=True)
    lines = ["# Report with 50 images", ""]
    for index in range(50):
        if index:
            shutil.copy(plots / "curve_0.png", plots / f"curve_{index}.png")
        lines.append(f"![curve {index}](plots/curve_{index}.png)")
    (root / "report.md").write_text("\n".join(lines) + "\n")


def make_publish_report(root: Path, images: int = 50, distinct: int = 40) -> Path:
    """A report linking ``images`` PNGs of which ``distinct`` have different bytes."""
    folder = root / "publish"
    (folder / "plots").mkdir(parents=True)
    plot = (root / "plots" / "curve_0.png").read_bytes()
    lines = [f"# Report with {images} images ({distinct} distinct)", ""]
    for index in range(images):
        (folder / "plots" / f"p{index}.png").write_bytes(plot + f"variant {index % distinct}".encode())
        lines.append(f"![plot {index}](plots/p{index}.png)")
    (folder / "report.md").write_text("\n".join(lines) + "\n")
    return folder


def publish_runs(folder: Path, repeat: int) -> tuple[float, dict[str, int]]:
    """Median time of ``cml comment create`` publishing to a fresh fake GitHub (Git Data API on a real
    bare repository, on loopback), and the requests of one run by kind."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    times, counts = [], {}
    for attempt in range(repeat):
        fake = FakeGitHub()
        fake.add_token("ghs_benchmark_token_0000", "github-actions[bot]")
        with FakeForgeServer(fake) as server:
            fake.base_url = server.url
            fake.enable_git_data(str(folder / f"github-{attempt}.git"))
            event = folder / "event.json"
            event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "a" * 40}}}))
            env = {**os.environ, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": server.url,
                   "GITHUB_SERVER_URL": server.url, "GITHUB_REPOSITORY": fake.repository,
                   "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": "ghs_benchmark_token_0000"}
            started = time.perf_counter()
            completed = subprocess.run([*CML, "comment", "create", "report.md", "--no-summary"], cwd=folder, env=env,
                                       capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if completed.returncode:
                raise SystemExit(f"cml comment create failed:\n{completed.stderr}")
            counts = {}
            for request in server.requests:
                kind = f"{request.method} {'/'.join(request.path.split('/')[4:6])}"
                counts[kind] = counts.get(kind, 0) + 1
    return statistics.median(times), counts


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


def hostile_runs(root: Path, repeat: int) -> list[tuple[str, str, float, float | None]]:
    """Reports and inputs an attacker would send: the adversarial reports posted to a fake GitHub on loopback
    (beside a plain report of the same size, the floor), 50,000 classes (with peak memory), and ``comment update``
    on a pull request with 1,000 comments (with its requests)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    folder = make_adversarial_reports(root)
    rows = []
    fake = FakeGitHub()
    fake.add_token("ghs_benchmark_token_0000", "github-actions[bot]")
    with FakeForgeServer(fake) as server:
        fake.base_url = server.url
        fake.enable_git_data(str(folder / "github.git"))  # a report past the comment limit is published whole
        event = folder / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "a" * 40}}}))
        env = {**os.environ, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_API_URL": server.url,
               "GITHUB_SERVER_URL": server.url, "GITHUB_REPOSITORY": fake.repository,
               "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": "ghs_benchmark_token_0000"}

        def post(name: str, command: str = "create") -> float:
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                completed = subprocess.run([*CML, "comment", command, name, "--no-summary", "--skip-missing"],
                                           cwd=folder, env=env, capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                if completed.returncode:
                    raise SystemExit(f"cml comment {command} {name} failed:\n{completed.stderr}")
            return statistics.median(times)

        floor = post("plain.md")
        for index, pattern in enumerate(ADVERSARIAL_PATTERNS):
            rows.append((f"comment create, 1 MB report of {pattern!r} repeated (scanned for links)",
                         "the same command on 1 MB of plain prose (floor)", post(f"adversarial-{index}.md"), floor))
        for index in range(999):
            fake.add_comment(7, f"review comment {index}", "reviewer")
        (folder / "update.md").write_text("# Report\n\nupdated\n")
        post("update.md", "update")
        server.requests.clear()
        seconds = post("update.md", "update")
        kinds: dict[str, int] = {}
        for request in server.requests[: len(server.requests) // repeat]:
            kinds[f"{request.method} {request.path.rsplit('/', 1)[-1]}"] = kinds.get(
                f"{request.method} {request.path.rsplit('/', 1)[-1]}", 0) + 1
        rows.append((f"comment update on a pull request with 1,000 comments: {_counted(kinds)}", "", seconds, None))
    rows.append(_peak_memory_row(root))
    return rows


def _peak_memory_row(root: Path) -> tuple[str, str, float, float | None]:
    """``cml plot confusion`` on 50,000 classes × 300,000 rows, with the child's peak resident memory."""
    import random

    rng = random.Random(0)
    path = root / "classes-50000.csv"
    with path.open("w") as handle:
        handle.write("actual,predicted\n")
        for _ in range(300_000):
            actual = rng.randrange(50_000)
            handle.write(f"c{actual},c{actual if rng.random() < 0.8 else rng.randrange(50_000)}\n")
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    completed = subprocess.run([sys.executable, "-c", probe, *CML, "plot", "confusion", str(path), "-o",
                                str(root / "cm-50000.png")], capture_output=True, text=True, check=True)
    seconds, peak_kib, code = completed.stdout.split()
    if code != "0":
        raise SystemExit("cml plot confusion on 50,000 classes failed")
    return (f"plot confusion, 50,000 classes, 300,000 rows: peak memory {int(peak_kib) / 1024:.0f} MiB", "",
            float(seconds), None)


def _counted(requests_by_kind: dict[str, int]) -> str:
    return f"{sum(requests_by_kind.values())} requests ({', '.join(f'{n} {k}' for k, n in sorted(requests_by_kind.items()))})"


def runner_runs(root: Path) -> list[tuple[str, float]]:
    """``cml runner launch`` until the runner is online, then ``list`` and ``stop --all`` over 50 machines, against
    moto's EC2 server and a fake GitHub on loopback (machines "boot" instantly, so this is cml's own overhead)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import boto3

    from tests.fakes.ec2 import Ec2Proxy, MachineFleet, MotoServer
    from tests.fakes.github import FakeGitHub
    from tests.fakes.server import FakeForgeServer

    rows = []
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

            def run(*args: str) -> float:
                started = time.perf_counter()
                completed = subprocess.run([*CML, "runner", *args], cwd=root, env=env, capture_output=True, text=True)
                if completed.returncode:
                    raise SystemExit(f"cml runner {args[0]} failed:\n{completed.stderr}")
                return time.perf_counter() - started

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
            rows.append((f"runner launch until online (GitHub just-in-time, EC2 on moto): "
                         f"{_counted(requests_since(0, 0))}", seconds))
            for index in range(1, 50):
                ec2.run_instances(ImageId="ami-0d1a0000000000002", InstanceType="g4dn.xlarge", MinCount=1, MaxCount=1,
                                  TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                      {"Key": "cml:runner", "Value": f"bench-{index}"}]}])
                fake.runner_store.create(f"bench-{index}", ["cml"])
            marks = len(server.requests), len(proxy.requests)
            seconds = run("list", "--json")
            rows.append((f"runner list, 50 machines: {_counted(requests_since(*marks))}", seconds))
            marks = len(server.requests), len(proxy.requests)
            seconds = run("stop", "--all")
            rows.append((f"runner stop --all, 50 machines and registrations: {_counted(requests_since(*marks))}", seconds))
    return rows


class _Forwarding:
    """A fake-server app that forwards every request to ``upstream`` (to count what a command sends)."""

    def __init__(self, upstream: str):
        self.upstream = upstream

    def handle(self, request):
        import requests

        from tests.fakes.server import Response

        answer = requests.request(request.method, self.upstream + request.path, params=request.query,
                                  data=request.body, headers={"Content-Type": request.headers.get("Content-Type", "")},
                                  timeout=120)
        return Response(answer.status_code, answer.content)


def tracker_runs(root: Path) -> list[tuple[str, str, float, float | None]]:
    """``cml metrics diff`` and ``cml plot line`` on two MLflow runs with 1,000 metrics and a 10^5-step history each,
    against a real tracking server on loopback; the peer is MLflow's own client fetching the same runs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from tests.fakes.server import FakeForgeServer
    from tests.fakes.tracking import TrackingServer

    (root / "mlflow").mkdir()
    rows = []
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

        def run(*args: str) -> tuple[float, int]:
            mark = len(proxy.requests)
            started = time.perf_counter()
            completed = subprocess.run([*CML, *args], cwd=root, env=env, capture_output=True, text=True)
            if completed.returncode:
                raise SystemExit(f"cml {' '.join(args)} failed:\n{completed.stderr}")
            return time.perf_counter() - started, len(proxy.requests) - mark

        peer = [sys.executable, "-c", "import sys; from mlflow.tracking import MlflowClient; c = MlflowClient(sys.argv[1]); "
                "[c.get_run(r) for r in sys.argv[2:]]", tracking.url, *runs]
        peer_seconds = timed(peer, root, 1)
        seconds, count = run("metrics", "diff", "--mlflow-run", runs[1], "--mlflow-base-run", runs[0], "--json")
        rows.append((f"metrics diff of two MLflow runs, 1,000 metrics each: {count} requests",
                     "MlflowClient().get_run × 2", seconds, peer_seconds))
        peer = [sys.executable, "-c", "import sys; from mlflow.tracking import MlflowClient; c = MlflowClient(sys.argv[1]); "
                "[c.get_metric_history(r, 'loss') for r in sys.argv[2:]]", tracking.url, *runs]
        peer_seconds = timed(peer, root, 1)
        seconds, count = run("plot", "line", "--mlflow-run", runs[1], "--mlflow-base-run", runs[0], "-y", "loss",
                             "-o", "loss.png")
        rows.append((f"plot line of a 10^5-step MLflow history with the base run's overlaid: {count} requests",
                     "MlflowClient().get_metric_history × 2", seconds, peer_seconds))
    return rows


def report_runs(root: Path, repeat: int) -> list[tuple[str, str, float, float | None]]:
    """Issue 17's report features, each paired with its peer: metric history over 100 commits, ``plot dvc`` on 10
    definitions, ``report create`` end to end."""
    rows = history_rows(root, repeat)
    rows += dvc_plot_rows(root, repeat)
    rows += report_create_rows(root, repeat)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median is reported)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    parser.add_argument("--only", choices=["hostile", "reports"],
                        help="run only these cases (hostile: attacker-built inputs; reports: metric history, "
                             "plot dvc and report create)")
    options = parser.parse_args()
    if options.only == "hostile":
        with tempfile.TemporaryDirectory() as folder:
            return print_rows(hostile_runs(Path(folder), options.repeat), options.json)
    if options.only == "reports":
        with tempfile.TemporaryDirectory() as folder:
            return print_rows(report_runs(Path(folder), options.repeat), options.json)

    rows: list[tuple[str, str, float, float | None]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        repo = make_metrics_repo(root)
        make_inputs(root)
        baseline = timed([sys.executable, "-c", "pass"], root, options.repeat)
        rows.append(("python -c pass (interpreter start-up, for reference)", "", baseline, None))
        rows.append(("cml --version", "", timed([*CML, "--version"], root, options.repeat), None))
        cml_diff = timed([*CML, "metrics", "diff", "--md", "HEAD"], repo, options.repeat)
        dvc_diff = timed(["dvc", "metrics", "diff", "--md", "HEAD"], repo, options.repeat) if shutil.which("dvc") else None
        rows.append(("metrics diff --md, 3 files × 100 metrics vs HEAD", "dvc metrics diff --md", cml_diff, dvc_diff))
        slow = max(1, options.repeat // 2)
        rows.append(("plot confusion, 1,000 classes, 200,000 samples", "",
                     timed([*CML, "plot", "confusion", "confusion.csv", "-o", "cm.png"], root, slow), None))
        rows.append(("plot line, 10^6 points", "", timed([*CML, "plot", "line", "curve.csv", "-o", "line.png"], root, slow), None))
        rows.append(("plot roc, 10^6 scores", "", timed([*CML, "plot", "roc", "scores.csv", "-o", "roc.png"], root, slow), None))
        rows.append(("plot pr, 10^6 scores", "", timed([*CML, "plot", "pr", "scores.csv", "-o", "pr.png"], root, slow), None))
        rows.append(("report preview, 50 images inlined", "",
                     timed([*CML, "report", "preview", "report.md"], root, options.repeat), None))
        publish_seconds, requests = publish_runs(make_publish_report(root), slow)
        rows.append((f"comment create, 50 images (40 distinct) published to a GitHub branch on loopback: "
                     f"{sum(requests.values())} requests ({', '.join(f'{n} {k}' for k, n in sorted(requests.items()))})",
                     "", publish_seconds, None))
        rows.extend((case, "", seconds, None) for case, seconds in runner_runs(root))
        rows.extend(tracker_runs(root))
        rows.extend(hostile_runs(root, slow))
        rows.extend(report_runs(root, slow))
    print_rows(rows, options.json)


if __name__ == "__main__":
    main()
