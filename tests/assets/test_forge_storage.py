"""Publishing to GitLab uploads, Bitbucket Downloads and Gitea attachments, against the stateful fakes:
files are stored, the URLs in the comment serve the same bytes, and each distinct file is sent once."""

import requests

from tests.assets.conftest import CONFUSION, LOCAL, REPORT, content_name, expected_report, png
from tests.fakes.ci_env import bitbucket_env, gitea_env, gitlab_env
from tests.fakes.forges import FakeBitbucket, FakeGitea, FakeGitLab

DISTINCT = {content_name(data, extension): data for data, extension in LOCAL.values()}


def _body(comment_body: str) -> str:
    return comment_body.split("\n\n[//]: # (cml-report")[0] + "\n"


def test_gitlab_uploads_each_distinct_file_once_and_links_project_relative_urls(serve, report_folder, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    server = serve(fake)
    env = gitlab_env(server, CI_MERGE_REQUEST_IID="5", CI_PROJECT_URL=f"{server.url}/ml/models")
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    assert env["REPO_TOKEN"] not in result.stdout + result.stderr

    (note,) = fake.store.on("pr", 5)
    by_name = {url.rsplit("/", 1)[1]: url for url in fake.uploads}
    assert sorted(by_name) == sorted(DISTINCT)
    assert _body(note["body"]) == expected_report(lambda name: by_name[name])
    for name, url in by_name.items():
        answer = requests.get(f"{server.url}/ml/models{url}", timeout=5)
        assert answer.content == DISTINCT[name]
    assert fake.uploads[by_name[content_name(CONFUSION, ".png")]][0] == "image/png"
    assert fake.uploads[by_name[content_name(LOCAL["card.pdf"][0], ".pdf")]][0] == "application/pdf"
    uploads = [r for r in server.requests if r.path.endswith("/uploads")]
    assert len(uploads) == len(DISTINCT)
    assert server.requests.index(uploads[-1]) < next(i for i, r in enumerate(server.requests) if r.path.endswith("/notes"))


def test_gitlab_asset_publish_prints_an_absolute_url(serve, report_folder, run_cli):
    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "bot")
    server = serve(fake)
    env = gitlab_env(server, CI_PROJECT_URL=f"{server.url}/ml/models")
    result = run_cli("asset", "publish", "plots/confusion.png", "--native", env=env)
    assert result.exit_code == 0, result.stderr
    assert requests.get(result.stdout.strip(), timeout=5).content == CONFUSION


def test_bitbucket_downloads_are_reused_across_runs(serve, report_folder, run_cli):
    fake = FakeBitbucket()
    fake.add_token("bb-access-token", "bot")
    server = serve(fake)
    env = bitbucket_env(server, "bb-access-token", BITBUCKET_PR_ID="4", BITBUCKET_GIT_HTTP_ORIGIN=f"{server.url}/team/models")
    assert run_cli("comment", "create", "report.md", env=env).exit_code == 0
    assert sorted(fake.downloads) == sorted(DISTINCT)
    (comment,) = fake.store.on("pr", 4)
    url_of = lambda name: f"{server.url}/team/models/downloads/{name}"  # noqa: E731
    assert _body(comment["body"]) == expected_report(url_of)
    assert requests.get(url_of(content_name(CONFUSION, ".png")), timeout=5).content == CONFUSION

    server.requests.clear()
    assert run_cli("comment", "update", "report.md", env=env).exit_code == 0
    assert not any(r.method == "POST" and r.path.endswith("/downloads") for r in server.requests)


def test_gitea_attaches_to_the_pull_request_within_the_instance_limits(serve, report_folder, run_cli, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "bot")
    server = serve(fake)
    env = gitea_env(server, tmp_path)
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    by_name = {a["name"]: a["browser_download_url"] for a in fake.attachments[2]}
    assert sorted(by_name) == sorted(DISTINCT)
    (comment,) = fake.store.on("pr", 2)
    assert _body(comment["body"]) == expected_report(lambda name: by_name[name])
    assert requests.get(by_name[content_name(CONFUSION, ".png")], timeout=5).content == CONFUSION

    server.requests.clear()
    assert run_cli("comment", "update", "report.md", env=env).exit_code == 0
    assert not any(r.method == "POST" and r.path.endswith("/assets") for r in server.requests)


def test_gitea_limits_are_checked_before_anything_is_sent(serve, report_folder, run_cli, tmp_path):
    fake = FakeGitea()
    fake.add_token("gitea-token-123", "bot")
    fake.attachment_settings["max_size"] = 1
    server = serve(fake)
    big = png(700, 700, (1, 1, 1)) + bytes(2 * 1024 * 1024)
    (report_folder / "plots" / "big.png").write_bytes(big)
    with open("report.md", "a") as report:
        report.write("\n![big](plots/big.png)\n")
    result = run_cli("comment", "create", "report.md", env=gitea_env(server, tmp_path))
    assert result.exit_code == 1
    assert "plots/big.png is 2.0 MiB; Gitea attachments accepts at most 1.0 MiB per file" in result.stderr
    assert not any(r.method == "POST" for r in server.requests)
    assert fake.store.on("pr", 2) == []

    fake.attachment_settings["max_size"] = 2048
    (report_folder / "report.md").write_text(REPORT + "\n[metrics](metrics.json)\n")
    (report_folder / "metrics.json").write_text("{}")
    result = run_cli("comment", "create", "report.md", env=gitea_env(server, tmp_path))
    assert result.exit_code == 1 and "only accepts attachments of type" in result.stderr
    assert fake.attachments == {} and fake.store.on("pr", 2) == []


def test_a_report_too_long_for_bitbucket_links_its_full_text_published_as_a_file(serve, report_folder, run_cli):
    fake = FakeBitbucket()
    fake.add_token("bb-access-token", "bot")
    server = serve(fake)
    rows = "".join(f"| class {index} | 0.{index:04d} |\n" for index in range(2000))
    full = f"# Per-class results\n\n| class | f1 |\n|---|---|\n{rows}"
    (report_folder / "report.md").write_text(full)
    env = bitbucket_env(server, "bb-access-token", BITBUCKET_PR_ID="4", BITBUCKET_GIT_HTTP_ORIGIN=f"{server.url}/team/models")
    result = run_cli("comment", "create", "report.md", env=env)
    assert result.exit_code == 0, result.stderr
    (comment,) = fake.store.on("pr", 4)
    assert len(comment["body"]) < 32_767
    name = content_name(full.encode(), ".md")
    assert f"The full report is [report.md]({server.url}/team/models/downloads/{name})." in comment["body"]
    assert fake.downloads[name] == ("text/markdown", full.encode())
