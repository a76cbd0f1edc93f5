"""The Python API (``cml.post_report``, ``cml.publish``, ``cml.create_check``, ``cml.open_pull_request``) end to end
against the stateful fake forges, as a CI job's Python code would call it."""

import logging
import os
import subprocess
import sys

import pytest
import requests

import cml
from cml.errors import UsageError
from tests.assets.conftest import CONFUSION, png
from tests.fakes.ci_env import HEAD_SHA, TOKEN, gitlab_env
from tests.fakes.forges import FakeGitLab
from tests.fakes.git_http import GitHttpServer
from tests.forges.test_pr_create import git, make_clone


def test_post_report_creates_then_updates_one_comment(actions, github, tmp_path):
    first = cml.post_report("report.md", update=True, watermark_title="{workflow}")
    assert first.created and first.action == "created" and not first.truncated
    (comment,) = github.comments_on(number=7)
    assert first.url == comment["html_url"] and "label=train" in comment["body"]
    assert (tmp_path / "summary.md").read_text().startswith("# Report")

    (tmp_path / "report.md").write_text("# Report\n\nbetter\n")
    second = cml.post_report("report.md", update=True, watermark_title="{workflow}", summary=False)
    assert not second.created and second.action == "updated" and second.url == first.url
    (comment,) = github.comments_on(number=7)
    assert comment["body"].startswith("# Report\n\nbetter")


def test_warnings_go_to_the_callable_or_else_to_the_cml_logger(actions, github, tmp_path, caplog):
    (tmp_path / "report.md").write_text("# Report\n\n![plot](missing.png)\n")
    warnings = []
    cml.post_report("report.md", warn=lambda message, file=None, line=None: warnings.append((message, file, line)))
    assert len(warnings) == 1 and warnings[0][1:] == ("report.md", 3) and "missing.png" in warnings[0][0]
    with caplog.at_level(logging.WARNING, logger="cml"):
        cml.post_report("report.md")
    assert [record.name for record in caplog.records] == ["cml"] and "missing.png" in caplog.records[0].message


def test_an_explicit_connection_names_the_target_and_repository(actions, github):
    connection = cml.Connection(repo="octo/models", token=TOKEN, environ={**os.environ, "GITHUB_STEP_SUMMARY": ""})
    delivery = cml.post_report("report.md", target="issue/3", connection=connection)
    (comment,) = github.comments_on(number=3)
    assert delivery.url == comment["html_url"]
    assert connection.context.repository == "octo/models"  # resolved once, kept for the next action


def test_publish_returns_a_url_the_forge_serves(serve, tmp_path, monkeypatch):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    server = serve(fake)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "confusion.png").write_bytes(CONFUSION)
    environ = gitlab_env(server, CI_PROJECT_URL=f"{server.url}/ml/models")
    published = cml.publish("confusion.png", connection=cml.Connection(environ=environ))
    assert published.is_image and published.mime_type == "image/png"
    assert requests.get(published.url, timeout=5).content == CONFUSION
    assert published.markdown("Confusion") == f'![]({published.url} "Confusion")'


def test_create_check_returns_the_check_runs_url(actions, github):
    url = cml.create_check("report.md", title="Training", status="in_progress")
    (run,) = github.check_runs
    assert url == run["html_url"] and run["head_sha"] == HEAD_SHA and run["status"] == "in_progress"
    assert cml.create_check("report.md", title="Training", conclusion="failure") == url
    assert run["conclusion"] == "failure"


@pytest.mark.parametrize("call, parameter", [
    (lambda: cml.post_report("report.md", target="bogus"), "target"),
    (lambda: cml.post_report("report.md", watermark_title=None, update=True), "update"),
    (lambda: cml.create_check("report.md", status="queued", conclusion="success"), "conclusion"),
    (lambda: cml.create_check("report.md", head_sha=None, connection=cml.Connection(repo="octo/other")),
     "head_sha"),
])
def test_usage_errors_name_the_python_parameter(actions, github, call, parameter):
    with pytest.raises(UsageError) as raised:
        call()
    assert raised.value.parameter == parameter and str(raised.value).startswith(f"{parameter}: ")
    assert "--" not in raised.value.parameter
    assert github.comments == {} and github.check_runs == []


@pytest.fixture
def clone(actions, github, tmp_path, monkeypatch):
    """A CI clone of octo/models whose origin is served over HTTP and needs the Actions token."""
    root = tmp_path / "server"
    bare = root / "octo" / "models.git"
    work = make_clone(tmp_path, bare)
    with GitHttpServer(str(root), "x-access-token", TOKEN) as server:
        git("remote", "add", "origin", f"{server.url}/octo/models.git", cwd=work)
        monkeypatch.chdir(work)
        yield work, bare


def test_open_pull_request_commits_pushes_and_opens_it_once(clone, github):
    work, bare = clone
    head = git("rev-parse", "HEAD", cwd=work)
    (work / "plots").mkdir()
    (work / "plots" / "roc.png").write_bytes(png(2, 2, (1, 2, 3)))
    notes = []
    result = cml.open_pull_request(["plots/*.png"], title="New plots", merge_method="squash", note=notes.append)
    (pull,) = github.pull_store.pulls
    assert result.created and result.url == f"https://github.test/octo/models/pull/{pull['number']}"
    assert result.term == "Pull Request" and result.note.endswith("it merges when its checks pass")
    assert (pull["title"], pull["auto_merge"]) == ("New plots", "SQUASH")
    assert git("ls-tree", "--name-only", "-r", f"main-cml-pr-{head[:8]}", cwd=bare).splitlines() == [
        "metrics.json", "plots/roc.png", "train.py"]

    again = cml.open_pull_request(["plots/*.png"], title="New plots", note=notes.append)
    assert not again.created and again.url == result.url and len(github.pull_store.pulls) == 1
    assert any("already holds these changes" in note for note in notes)

    nothing = cml.open_pull_request(["*.csv"])
    assert nothing.pull is None and nothing.url is None and "nothing to commit" in nothing.note


def test_import_cml_loads_the_actions_only_when_used():
    probe = ("import sys, cml; before = 'cml.actions' in sys.modules; cml.post_report; "
             "print(before, 'cml.actions' in sys.modules, 'cml.forges' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True", "True"]
    assert cml.post_report is cml.actions.post_report and "post_report" in cml.__all__


def test_rerun_workflow_retries_the_ci_pipeline_and_names_run_id_when_there_is_none(serve):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    fake.add_pipeline(77)
    server = serve(fake)
    connection = cml.Connection(environ=gitlab_env(server))
    assert cml.rerun_workflow(connection=connection) == "https://gitlab.test/ml/models/-/pipelines/77"
    assert fake.pipeline_events == [("retry", 77)]
    outside_ci = cml.Connection(repo="https://gitlab.test/ml/models", driver="gitlab", api_url=f"{server.url}/api/v4",
                                token="glpat-secret-token", environ={})
    with pytest.raises(UsageError, match="^run_id: no CI run to re-run"):
        cml.rerun_workflow(connection=outside_ci)


def test_prepare_repository_sets_the_committer_and_returns_what_it_did(repo):
    repo.commit("first")
    done = cml.prepare_repository(committer=cml.Committer("Model Bot", "bot@example.test"), environ={})
    assert done == ["commits are made as Model Bot <bot@example.test>"]
    assert repo.git("config", "--local", "user.name").strip() == "Model Bot"
