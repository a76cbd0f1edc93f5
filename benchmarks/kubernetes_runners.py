"""Time ``cml runner launch|list|stop --cloud kubernetes`` against the fake cluster on loopback.

Run from the project root after installing cml with its test and Kubernetes extras:

    python benchmarks/kubernetes_runners.py            # Markdown table
    python benchmarks/kubernetes_runners.py --json     # machine-readable

Cases: ``launch --replicas 20`` until every runner is online (the fake GitLab stores the registrations,
pods "run" at once, so the time is cml's own), then ``list`` and ``stop --all`` over 100 Jobs. Each row
counts the requests cml sent to the cluster and to the forge; every command is a subprocess, as in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CML = [sys.executable, "-m", "cml"]
REPLICAS = 20
JOBS = 100


def _counted(counts: dict[str, int]) -> str:
    return f"{sum(counts.values())} requests ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))})"


def kubernetes_runs(root: Path) -> list[tuple[str, float]]:
    """The three cases as ``(description with request counts, wall seconds)``."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.ci_env import gitlab_env
    from tests.fakes.forges import FakeGitLab
    from tests.fakes.kubernetes import FakeKubernetes, Node, write_kubeconfig
    from tests.fakes.server import FakeForgeServer

    gitlab = FakeGitLab()
    gitlab.add_token("glpat-benchmark-token", "ml-bot")
    nodes = [Node(f"node-{i}", cpu=256, memory=1024 * 1024 ** 3) for i in range(1, 11)]
    cluster = FakeKubernetes(nodes=nodes, runner="settings", forges={"gitlab": gitlab})
    rows = []
    with FakeForgeServer(gitlab) as forge:
        gitlab.base_url = forge.url
        cluster.serve()
        try:
            config = write_kubeconfig(root / "kubeconfig", cluster.url)
            env = {**os.environ, **gitlab_env(forge, CI_SERVER_URL=forge.url, REPO_TOKEN="glpat-benchmark-token"),
                   "KUBECONFIG": str(config)}

            def run(*args: str) -> float:
                started = time.perf_counter()
                completed = subprocess.run([*CML, "runner", *args], cwd=root, env=env, capture_output=True,
                                           text=True)
                if completed.returncode:
                    raise SystemExit(f"cml runner {args[0]} failed:\n{completed.stderr}")
                return time.perf_counter() - started

            def requests_since(kube_mark: int, forge_mark: int) -> dict[str, int]:
                counts: dict[str, int] = {}
                for request in cluster.server.requests[kube_mark:]:
                    kind = re.sub(r"/namespaces/[^/]+", "", request.path)
                    kind = re.sub(r"/(jobs|pods|secrets|events)/[^/]+", r"/\1/{name}", kind)
                    key = f"{request.method} {kind.rsplit('/v1', 1)[-1]}"
                    counts[key] = counts.get(key, 0) + 1
                for request in forge.requests[forge_mark:]:
                    key = f"{request.method} gitlab {re.sub(r'/[0-9]+', '/{id}', request.path.split('/api/v4')[-1])}"
                    counts[key] = counts.get(key, 0) + 1
                return counts

            seconds = run("launch", "--cloud", "kubernetes", "--replicas", str(REPLICAS), "--name", "bench",
                          "--launch-timeout", "120")
            rows.append((f"runner launch --replicas {REPLICAS} until online: {_counted(requests_since(0, 0))}",
                         seconds))
            # The other Jobs are copies of the first replica's, as another launch would have created them.
            template = next(j for j in cluster.all("jobs") if re.search(r'"bench-1"', json.dumps(j)))
            for index in range(REPLICAS + 1, JOBS + 1):
                job = json.loads(re.sub(r"bench-1(?![0-9])", f"bench-{index}", json.dumps(template)))
                for key in ("uid", "resourceVersion", "creationTimestamp"):
                    job["metadata"].pop(key, None)
                cluster.add("jobs", job["metadata"]["namespace"], job)
                gitlab.runner_store.create(f"bench-{index}", ["cml"])
            marks = len(cluster.server.requests), len(forge.requests)
            seconds = run("list", "--cloud", "kubernetes", "--json")
            rows.append((f"runner list, {JOBS} Jobs: {_counted(requests_since(*marks))}", seconds))
            marks = len(cluster.server.requests), len(forge.requests)
            seconds = run("stop", "--cloud", "kubernetes", "--all")
            rows.append((f"runner stop --all, {JOBS} Jobs and registrations: {_counted(requests_since(*marks))}",
                         seconds))
            left = len(cluster.all("jobs")), len(gitlab.runner_store.runners)
            if left != (0, 0):
                raise SystemExit(f"stop --all left {left[0]} Jobs and {left[1]} registrations")
        finally:
            cluster.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = kubernetes_runs(Path(folder))
    if options.json:
        print(json.dumps([{"case": case, "cml_seconds": round(seconds, 3)} for case, seconds in rows], indent=2))
        return
    print("| case | cml (s) |")
    print("|:--|--:|")
    for case, seconds in rows:
        print(f"| {case} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
