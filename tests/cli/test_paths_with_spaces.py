"""A whole pull-request job in a clone whose path, and whose files, have spaces and non-ASCII characters:
``cml ci`` fetches the base branch over authenticated HTTP, ``metrics diff`` and ``plot line --rev`` read it,
and ``pr create`` pushes a new file. Real git, ``git http-backend`` on loopback and the fake GitHub."""

import base64
import os
import subprocess
import sys

from tests.conftest import assert_image
from tests.fakes.ci_env import TOKEN
from tests.fakes.git_http import GitHttpServer

METRICS = "eval results/metrics é.json"
LOSS = "logs dir/loss é.tsv"


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.rstrip("\n")


def cml(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cml", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write(work, name, content):
    path = work / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def test_a_pull_request_job_in_a_folder_named_with_spaces_and_accents(actions, github, tmp_path, monkeypatch):
    base = tmp_path / "my project é" / "репо"
    root, work = base / "server root", base / "work tree"
    bare = root / "octo" / "models.git"
    bare.mkdir(parents=True)
    work.mkdir()
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=base)
    git("init", "-q", "-b", "main", cwd=work)
    write(work, METRICS, '{"accuracy": 0.8}\n')
    write(work, LOSS, "step\tloss\n0\t1.0\n1\t0.8\n2\t0.7\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "base", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    write(work, METRICS, '{"accuracy": 0.9}\n')
    write(work, LOSS, "step\tloss\n0\t0.9\n1\t0.6\n2\t0.4\n")
    git("commit", "-q", "-am", "feature", cwd=work)
    git("push", "-q", str(bare), "feature", cwd=work)
    for name, value in {"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feature", "GITHUB_WORKSPACE": str(work)}.items():
        monkeypatch.setenv(name, value)

    with GitHttpServer(str(root), "x-access-token", TOKEN) as server:
        git("remote", "add", "origin", f"{server.url}/octo/models.git", cwd=work)
        # What actions/checkout leaves behind for later git commands of the job.
        basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        git("config", "--local", f"http.{server.url}/.extraheader", f"AUTHORIZATION: Basic {basic}", cwd=work)
        prepared = [cml("ci", cwd=work) for _ in range(2)]
        diff = cml("metrics", "diff", METRICS, cwd=work)
        plot = cml("plot", "line", LOSS, "--rev", "origin/main", "-o", "plots dir/curve é.png", "--title", "Loss",
                   cwd=work)
        write(work, "reports dir/model card é.md", "# Model card\n")
        pull = cml("pr", "create", "reports dir/model card é.md", cwd=work)

    assert all(result.returncode == 0 for result in prepared), prepared[0].stderr + prepared[1].stderr
    assert "fetched the base branch origin/main" in prepared[0].stderr
    # The workspace is marked safe once, however often the job prepares it.
    assert git("config", "--global", "--get-all", "safe.directory", cwd=work).splitlines() == [str(work)]

    assert diff.returncode == 0, diff.stderr
    assert "origin/main" in diff.stdout and "0.8" in diff.stdout and "0.9" in diff.stdout

    assert plot.returncode == 0, plot.stderr
    assert plot.stdout == "![Loss](<plots dir/curve é.png>)\n\n"
    assert_image(work / "plots dir" / "curve é.png")

    assert pull.returncode == 0, pull.stderr
    (opened,) = github.pull_store.pulls
    assert opened["target"] == "feature" and pull.stdout == f"https://github.test/octo/models/pull/{opened['number']}\n"
    assert git("show", f"{opened['source']}:reports dir/model card é.md", cwd=bare) == "# Model card"
    assert TOKEN not in "".join(r.stdout + r.stderr for r in (*prepared, diff, plot, pull))
    assert os.path.isfile(work / "reports dir" / "model card é.md")  # the working tree is left as it was
