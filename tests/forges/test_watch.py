"""``cml comment create --watch``: post when the file appears, update the same comment on every change."""

import os
import signal
import subprocess
import sys
import time

import pytest


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start_watch(actions, folder):
    """``cml comment create report.md --watch`` as a real process in ``folder``, polling every 0.1 s."""
    env = {**os.environ, **actions, "CML_WATCH_INTERVAL": "0.1"}
    return subprocess.Popen([sys.executable, "-m", "cml", "comment", "create", "report.md", "--watch"],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "cancelled-job"])
def test_watch_posts_then_updates_until_stopped(actions, github, tmp_path, stop):
    (tmp_path / "report.md").unlink()
    process = start_watch(actions, tmp_path)
    try:
        time.sleep(0.5)
        assert github.comments_on(number=7) == []
        (tmp_path / "report.md").write_text("# Epoch 1\n")
        assert wait_for(lambda: len(github.comments_on(number=7)) == 1)
        (tmp_path / "report.md").write_text("# Epoch 2\n")
        assert wait_for(lambda: github.comments_on(number=7)[0]["body"].startswith("# Epoch 2"))
    finally:
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert len(github.comments_on(number=7)) == 1
    # The signal may land while the second post is on its way: it still finishes and prints its URL.
    url = github.comments_on(number=7)[0]["html_url"]
    assert stdout.splitlines() == [url, url]
    assert "Traceback" not in stderr


def test_a_stop_signal_during_a_post_lets_it_finish(actions, github, tmp_path):
    github.server.fail("PATCH", r"/issues/comments/", delay=1.5)
    process = start_watch(actions, tmp_path)
    try:
        assert wait_for(lambda: len(github.comments_on(number=7)) == 1)
        (tmp_path / "report.md").write_text("# Epoch 2\n")
        assert wait_for(lambda: github.server.count("PATCH") == 1)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert github.comments_on(number=7)[0]["body"].startswith("# Epoch 2")
    assert stdout.splitlines() == [github.comments_on(number=7)[0]["html_url"]] * 2


def test_two_jobs_at_once_leave_one_comment(actions, github, tmp_path):
    env = {**os.environ, **actions}
    jobs = [subprocess.Popen([sys.executable, "-m", "cml", "comment", "update", "report.md"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [job.communicate(timeout=60) for job in jobs]
    assert all(job.returncode == 0 for job in jobs), results
    assert len(github.comments_on(number=7)) == 1


def test_watch_reposts_when_only_a_linked_image_changes(actions, github, tmp_path, monkeypatch):
    from tests.assets.conftest import content_name, png

    store = github.enable_git_data(str(tmp_path / "github.git"))
    first, second = png(2, 2, (1, 1, 1)), png(3, 3, (2, 2, 2))
    (tmp_path / "loss.png").write_bytes(first)
    (tmp_path / "report.md").write_text("# Training\n\n![loss](loss.png)\n")
    process = start_watch(actions, tmp_path)
    try:
        assert wait_for(lambda: any(content_name(first, ".png") in c["body"] for c in github.comments_on(number=7)))
        (tmp_path / "loss.png").write_bytes(second)
        assert wait_for(lambda: content_name(second, ".png") in github.comments_on(number=7)[0]["body"])
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert len(github.comments_on(number=7)) == 1
    assert sorted(store.git("ls-tree", "--name-only", "cml-assets").split()) == sorted(
        [content_name(first, ".png"), content_name(second, ".png")])
