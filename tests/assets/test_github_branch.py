"""Publishing on GitHub: files committed to the cml-assets branch through the Git Data API of the fake,
which writes real git objects into a bare repository the tests inspect with git."""

from pathlib import Path

import requests

from tests.assets.conftest import CONFUSION, LOCAL, content_name, expected_report, png
from tests.fakes.ci_env import HEAD_SHA


def _enable(github, tmp_path, monkeypatch):
    store = github.enable_git_data(str(tmp_path / "github.git"))
    monkeypatch.setenv("GITHUB_SERVER_URL", github.base_url)
    return store


def _raw_url(github, name, branch="cml-assets"):
    return f"{github.base_url}/{github.repository}/raw/{branch}/{name}"


def _branch_files(store, branch="cml-assets"):
    return sorted(store.git("ls-tree", "--name-only", branch).splitlines())


def test_report_files_are_committed_once_and_only_their_links_change(actions, github, report_folder, run_cli,
                                                                      tmp_path, monkeypatch):
    store = _enable(github, tmp_path, monkeypatch)
    result = run_cli("comment", "create", "report.md", "-v")
    assert result.exit_code == 0, result.stderr
    assert actions["REPO_TOKEN"] not in result.stdout + result.stderr

    (comment,) = github.comments_on(number=7)
    body = comment["body"].split("\n\n[//]: # (cml-report")[0] + "\n"
    assert body == expected_report(lambda name: _raw_url(github, name))
    names = {content_name(data, extension) for data, extension in LOCAL.values()}
    assert _branch_files(store) == sorted(names)
    for data, extension in LOCAL.values():
        assert requests.get(_raw_url(github, content_name(data, extension)), timeout=5).content == data
    # One commit without a parent, made from one blob per distinct file, before the comment.
    assert store.git("rev-list", "--parents", "cml-assets").split() == [store.head("cml-assets")]
    methods = [(r.method, r.path.split("/repos/octo/models/")[-1]) for r in github.server.requests]
    assert sum(1 for m in methods if m == ("POST", "git/blobs")) == len(names)
    assert methods.index(("POST", "git/refs")) < methods.index(("POST", "issues/7/comments"))
    # The job summary gets the published links too (it renders on GitHub).
    assert _raw_url(github, content_name(CONFUSION, ".png")) in (tmp_path / "summary.md").read_text()


def test_a_second_run_adds_only_new_files_on_top_of_the_branch(actions, github, report_folder, run_cli,
                                                                tmp_path, monkeypatch):
    store = _enable(github, tmp_path, monkeypatch)
    assert run_cli("comment", "update", "report.md").exit_code == 0
    first_head = store.head("cml-assets")
    github.server.requests.clear()

    assert run_cli("comment", "update", "report.md").exit_code == 0
    assert store.head("cml-assets") == first_head
    assert [r.method for r in github.server.requests if "/git/" in r.path] == ["GET", "GET", "GET"]

    new_plot = png(5, 5, (1, 2, 3))
    (report_folder / "plots" / "loss.png").write_bytes(new_plot)
    with open("report.md", "a") as report:
        report.write("\n![loss](plots/loss.png)\n")
    github.server.requests.clear()
    assert run_cli("comment", "update", "report.md").exit_code == 0
    assert [r.path.rsplit("/", 1)[-1] for r in github.server.requests if r.method == "POST"
            and r.path != "/graphql"] == ["blobs", "trees", "commits"]
    assert store.git("rev-parse", "cml-assets^") == first_head
    assert content_name(new_plot, ".png") in _branch_files(store)
    (comment,) = github.comments_on(number=7)
    assert _raw_url(github, content_name(new_plot, ".png")) in comment["body"]


def test_another_job_moving_the_branch_is_built_upon_not_overwritten(actions, github, report_folder, run_cli,
                                                                      tmp_path, monkeypatch):
    store = _enable(github, tmp_path, monkeypatch)
    theirs = store.commit_file("cml-assets", "their-plot.png", png(6, 6, (5, 5, 5)))
    store.before_ref_update.append(lambda: store.commit_file("cml-assets", "racing.png", png(7, 7, (6, 6, 6))))

    result = run_cli("comment", "create", "report.md")
    assert result.exit_code == 0, result.stderr
    files = _branch_files(store)
    assert {"their-plot.png", "racing.png"} <= set(files)
    assert content_name(CONFUSION, ".png") in files
    history = store.git("rev-list", "cml-assets").split()
    assert theirs in history and len(history) == 3
    refusals = [r for r in github.server.requests if r.method == "PATCH"]
    assert len(refusals) == 2  # one refused as not a fast-forward, then one on the new head


def test_with_strict_a_token_without_contents_write_gets_a_clear_error_and_nothing_is_posted(
        actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    store = _enable(github, tmp_path, monkeypatch)
    github.read_only_tokens.add(actions["REPO_TOKEN"])
    result = run_cli("comment", "create", "report.md", "--strict")
    assert result.exit_code == 1
    assert github.server.count("POST") == 1  # one refused blob, not one per file
    assert "contents: write" in result.stderr and "cml-assets" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert github.comments_on(number=7) == [] and store.head("cml-assets") is None


def test_no_publish_posts_the_report_as_written(actions, github, report_folder, run_cli):
    assert run_cli("comment", "create", "report.md", "--no-publish").exit_code == 0
    (comment,) = github.comments_on(number=7)
    assert comment["body"].startswith(Path("report.md").read_text().rstrip())
    assert not any("/git/" in r.path for r in github.server.requests)


def test_check_run_summary_shows_published_images(actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    _enable(github, tmp_path, monkeypatch)
    result = run_cli("check", "create", "report.md", "--title", "Metrics")
    assert result.exit_code == 0, result.stderr
    (run,) = github.check_runs
    assert run["head_sha"] == HEAD_SHA
    expected = expected_report(lambda name: _raw_url(github, name))
    assert run["output"]["summary"].rstrip("\n") == expected.rstrip("\n")


def test_asset_publish_prints_the_url_or_markdown(actions, github, report_folder, run_cli, tmp_path, monkeypatch):
    store = _enable(github, tmp_path, monkeypatch)
    url = _raw_url(github, content_name(CONFUSION, ".png"), branch="reports")
    result = run_cli("asset", "publish", "plots/confusion.png", "--publish-branch", "reports")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == url + "\n"
    assert run_cli("asset", "publish", "plots/confusion.png", "--publish-branch", "reports", "--md",
                   "-t", "Confusion").stdout == f'![]({url} "Confusion")\n\n'
    assert run_cli("asset", "publish", "card.pdf", "--publish-branch", "reports", "--md").stdout.startswith("[card.pdf](")
    assert len(_branch_files(store, "reports")) == 2
