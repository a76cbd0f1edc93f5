"""``cml comment create --watch``: post when the file appears, update the same comment on every change."""

import os
import signal
import subprocess
import sys
import time


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_watch_posts_then_updates_until_interrupted(actions, github, tmp_path):
    (tmp_path / "report.md").unlink()
    env = {**os.environ, **actions, "CML_WATCH_INTERVAL": "0.1"}
    process = subprocess.Popen([sys.executable, "-m", "cml", "comment", "create", "report.md", "--watch"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        assert github.comments_on(number=7) == []
        (tmp_path / "report.md").write_text("# Epoch 1\n")
        assert wait_for(lambda: len(github.comments_on(number=7)) == 1)
        (tmp_path / "report.md").write_text("# Epoch 2\n")
        assert wait_for(lambda: github.comments_on(number=7)[0]["body"].startswith("# Epoch 2"))
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert len(github.comments_on(number=7)) == 1
    url = github.comments_on(number=7)[0]["html_url"]
    assert stdout.splitlines() == [url, url]
    assert "Traceback" not in stderr


def test_two_jobs_at_once_leave_one_comment(actions, github, tmp_path):
    env = {**os.environ, **actions}
    jobs = [subprocess.Popen([sys.executable, "-m", "cml", "comment", "update", "report.md"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [job.communicate(timeout=60) for job in jobs]
    assert all(job.returncode == 0 for job in jobs), results
    assert len(github.comments_on(number=7)) == 1
