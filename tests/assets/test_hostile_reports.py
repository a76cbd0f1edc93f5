"""Hostile reports: what a report (or the file it is) may make cml read and send out.

A report and the files it links come from pull-request content in a job that holds
a write token: nothing under ``.git``, nothing carrying the token, no report read
through a symlink leading out of the workspace, and nothing huge is ever sent.
"""

import base64
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cml.assets.content import Asset, AssetError
from cml.assets.references import Boundary, collect_references
from cml.errors import InputError
from cml.secrets import register_secret
from tests.assets.conftest import CONFUSION, png
from tests.conftest import git
from tests.fakes.ci_env import TOKEN

#: What actions/checkout writes into .git/config: the token's base64 behind "x-access-token:".
EXTRAHEADER = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
COMMANDS = [("comment", "create"), ("comment", "update"), ("check", "create")]


@pytest.fixture
def checkout(actions, tmp_path):
    """The job's folder as actions/checkout leaves it: a git repository whose config holds the token."""
    git("init", "-q", "-b", "main", cwd=tmp_path)
    git("config", "http.https://github.com/.extraheader", EXTRAHEADER, cwd=tmp_path)
    git("add", "report.md", cwd=tmp_path)
    git("commit", "-q", "-m", "report", cwd=tmp_path)
    return tmp_path


@pytest.mark.parametrize("link", [".git/config", "./.git/config", "plots/../.git/config", "%2egit/config",
                                  "config-link", "worktree/.git", "worktree/.git/../.git"])
def test_nothing_under_git_is_published_whatever_the_boundary(checkout, github, run_cli, link):
    os.symlink(".git/config", checkout / "config-link")
    git("worktree", "add", "-q", "worktree", cwd=checkout)
    (checkout / "plots").mkdir()
    (checkout / "report.md").write_text(f"# R\n\n![config]({link})\n")
    result = run_cli("comment", "create", "report.md", "--allow-outside", str(checkout / ".git"), "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"cml: error: report.md:3: refusing to publish {link.replace('%2e', '.')}: "
                                    "it is inside a .git folder"), result.stderr
    assert result.stderr.count("\n") == 1 and TOKEN not in result.stderr
    assert github.server.requests == []


@pytest.mark.parametrize("content", [f"token={TOKEN}\n", f"[http]\n\textraheader = {EXTRAHEADER}\n"],
                         ids=["raw", "checkout-base64"])
def test_a_linked_file_carrying_the_token_is_refused_before_any_request(actions, github, tmp_path, run_cli, content):
    (tmp_path / "settings.txt").write_text(content)
    (tmp_path / "report.md").write_text("# R\n\nSee [the settings](settings.txt).\n")
    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: report.md:3: refusing to publish settings.txt: it contains a token or "
                             "credential of this job (or its base64); remove it from the file\n")
    assert github.server.requests == []


def test_asset_publish_refuses_git_and_token_files(actions, github, tmp_path, run_cli):
    (tmp_path / "creds.txt").write_text(EXTRAHEADER)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    published = [run_cli("asset", "publish", name, "--allow-outside", str(tmp_path / ".git"))
                 for name in ("creds.txt", ".git/config")]
    assert [r.exit_code for r in published] == [1, 1]
    assert published[0].stderr.startswith("cml: error: creds.txt: refusing to send it: it contains a token")
    assert published[1].stderr.startswith("cml: error: .git/config: refusing to read it: it is inside a .git folder")
    assert github.server.requests == []


def test_files_without_an_extension_are_named_by_their_content():
    assert Asset.from_bytes(CONFUSION, "plots/confusion").name.endswith(".png")
    assert Asset.from_bytes(b"%PDF-1.7\n", "card").extension == ".pdf"
    assert Asset.from_bytes(b"PK\x03\x04rest", "bundle").extension == ".zip"
    assert Asset.from_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo").extension == ".svg"
    text = Asset.from_bytes("Apache License\nVersion 2.0 — ü\n".encode(), "LICENSE")
    assert (text.extension, text.mime_type) == (".txt", "text/plain")
    assert Asset.from_bytes(b"\x00\x01binary", "model", "application/octet-stream").extension == ".bin"
    with pytest.raises(AssetError, match=r"^weights: cannot tell what kind of file it is: its name has no extension"):
        Asset.from_bytes(b"\x08\x01\x12\x00\xff\xfe onnx-like protobuf", "weights")


def test_a_file_of_unknown_type_is_refused_naming_the_report_line(actions, github, tmp_path, run_cli):
    (tmp_path / "weights").write_bytes(b"\x08\x01\x12\x00\xff\xfe")
    (tmp_path / "report.md").write_text("# R\n\n[weights](weights)\n")
    result = run_cli("comment", "create", "report.md", "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: report.md:3: weights: cannot tell what kind of file it is")
    assert github.server.requests == []


def test_a_token_in_a_linked_file_is_found_by_collect_references(tmp_path):
    register_secret(TOKEN)
    (tmp_path / "ok.png").write_bytes(CONFUSION)
    (tmp_path / "leak.png").write_bytes(png(1, 1, (0, 0, 0)) + base64.b64encode(b"ab" + TOKEN.encode()))
    report = tmp_path / "report.md"
    report.write_text("![ok](ok.png)\n![leak](leak.png)\n")
    with pytest.raises(InputError, match=r"report.md:2: refusing to publish leak.png: it contains a token"):
        collect_references(report.read_text(), str(report), Boundary.for_report(str(report), {}))


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd"])
def test_a_report_read_through_a_symlink_out_of_the_workspace_is_refused(actions, github, tmp_path, run_cli,
                                                                         command, target):
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.md").symlink_to(target)
    result = run_cli(*command, "report.md")
    assert result.exit_code == 1
    assert re.fullmatch(r"cml: error: report.md: refusing to read it: it is outside the current folder and the CI "
                        r"workspace \(resolves to /(proc/\d+/environ|etc/passwd)\); pass --allow-outside FOLDER "
                        r"if this is intended\n", result.stderr), result.stderr
    assert github.server.requests == []


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_report_under_git_is_refused_even_when_allowed(checkout, github, run_cli, command):
    (checkout / "report.md").unlink()
    (checkout / "report.md").symlink_to(".git/config")
    result = run_cli(*command, "report.md", "--allow-outside", str(checkout / ".git"))
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: report.md: refusing to read it: it is inside a .git folder")
    assert github.server.requests == []


def test_a_report_in_the_workspace_or_an_allowed_folder_is_read(actions, github, tmp_path, run_cli, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "r.md").write_text("# From elsewhere\n")
    (tmp_path / "job").mkdir()
    monkeypatch.chdir(tmp_path / "job")
    refused = run_cli("comment", "create", str(elsewhere / "r.md"))
    assert refused.exit_code == 1 and "refusing to read it: it is outside the current folder" in refused.stderr
    assert run_cli("comment", "create", str(elsewhere / "r.md"), "--allow-outside", str(elsewhere)).exit_code == 0
    assert run_cli("comment", "create", str(elsewhere / "r.md"), env={"GITHUB_WORKSPACE": str(tmp_path)}).exit_code == 0
    assert [c["body"].startswith("# From elsewhere") for c in github.comments_on(number=7)] == [True, True]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_report_carrying_the_token_is_refused_before_any_request(actions, github, tmp_path, run_cli, command):
    (tmp_path / "report.md").write_text(f"# Debug\n\n```\n{EXTRAHEADER}\n```\n")
    result = run_cli(*command, "report.md")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: report.md: refusing to send it: it contains a token or credential of this "
                             "job (or its base64); remove it from the content\n")
    assert github.server.requests == []


def test_watch_never_posts_a_report_read_through_a_symlink(actions, github, tmp_path):
    (tmp_path / "report.md").unlink()
    (tmp_path / "report.md").symlink_to("/proc/self/environ")
    env = {**os.environ, **actions, "CML_WATCH_INTERVAL": "0.1"}
    process = subprocess.Popen([sys.executable, "-m", "cml", "comment", "create", "report.md", "--watch"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert github.comments_on(number=7) == [] and stdout == ""
    assert "warning::report.md: refusing to read it: it is outside the current folder" in stderr
    assert TOKEN not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("command", [*COMMANDS, ("report", "preview")], ids=" ".join)
def test_a_huge_report_is_refused_before_it_is_read(actions, github, tmp_path, run_cli, command):
    with open(tmp_path / "report.md", "wb") as report:
        report.truncate(9 * 1024 * 1024)  # sparse: no disk space used
    started = time.monotonic()
    result = run_cli(*command, "report.md")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: report.md: is 9.0 MiB, over the 8.0 MiB limit for reports; "
                             "cml does not read larger files\n")
    assert github.server.requests == [] and not (tmp_path / "report.html").exists()


def test_a_huge_data_uri_is_refused_before_it_is_decoded(actions, github, tmp_path, run_cli):
    payload = base64.b64encode(os.urandom(3_932_160)).decode()
    (tmp_path / "report.md").write_text(f"# R\n\n![big](data:image/png;base64,{payload})\n")
    result = run_cli("comment", "create", "report.md", "--strict")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: report.md:3: a data: URI of 5.0 MiB is longer than 4.0 MiB, the most cml "
                             "decodes; link the file instead\n")
    assert github.server.requests == []


def test_a_huge_linked_file_is_refused_before_it_is_read(actions, github, tmp_path, run_cli):
    with open(tmp_path / "model.onnx", "wb") as model:
        model.truncate(101 * 1024 * 1024)
    (tmp_path / "report.md").write_text("# R\n\n[model](model.onnx)\n")
    result = run_cli("comment", "create", "report.md", "--strict")
    assert result.exit_code == 1
    assert result.stderr.startswith("cml: error: report.md:3: cannot publish model.onnx: ")
    assert result.stderr.endswith("model.onnx: is 101.0 MiB, over the 100.0 MiB limit for linked files; "
                                  "cml does not read larger files\n")
    assert github.server.requests == []
