"""A self-managed GitLab under a sub-path (``https://host/gitlab/group/project``) outside GitLab CI, and
Bitbucket Cloud under its other name, bitbucket.com."""

import pytest

from tests.fakes.ci_env import REPORT


@pytest.fixture
def gitlab_under_a_subpath(serve, tmp_path, monkeypatch):
    from tests.fakes.forges import FakeGitLab
    from tests.fakes.subpath import SubPath

    fake = FakeGitLab()
    fake.add_token("glpat-secret-token", "project_42_bot")
    site = SubPath(fake, "/gitlab")
    server = serve(site)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.md").write_text(REPORT)
    monkeypatch.setenv("REPO_TOKEN", "glpat-secret-token")
    monkeypatch.setenv("CML_HTTP_BACKOFF", "0.01")
    return fake, site, server


def test_the_api_is_found_along_the_path_without_sending_the_token_elsewhere(gitlab_under_a_subpath, run_cli):
    fake, site, server = gitlab_under_a_subpath
    result = run_cli("comment", "create", "report.md", "--target", "pr/5", "--driver", "gitlab",
                     "--repo", f"{server.url}/gitlab/ml/models.git")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"{server.url}/gitlab/ml/models/-/merge_requests/5#note_")
    (note,) = fake.store.on("pr", 5)
    assert "all good" in note["body"]
    # The host's root answered first, as another site; it never saw the token.
    assert site.outside == ["/api/v4/version"]
    assert all("PRIVATE-TOKEN" not in r.headers for r in server.requests if not r.path.startswith("/gitlab/"))


def test_an_explicit_api_url_is_used_as_given(gitlab_under_a_subpath, run_cli):
    fake, site, server = gitlab_under_a_subpath
    result = run_cli("comment", "create", "report.md", "--target", "pr/6", "--driver", "gitlab",
                     "--repo", f"{server.url}/gitlab/ml/models", "--api-url", f"{server.url}/gitlab/api/v4")
    assert result.exit_code == 0, result.stderr
    assert len(fake.store.on("pr", 6)) == 1 and site.outside == []
    assert not any(r.path.endswith("/version") for r in server.requests)


def test_no_gitlab_along_the_path_is_one_line_naming_api_url(gitlab_under_a_subpath, run_cli):
    _, _, server = gitlab_under_a_subpath
    result = run_cli("comment", "create", "report.md", "--target", "pr/5", "--driver", "gitlab",
                     "--repo", f"{server.url}/elsewhere/ml/models")
    assert result.exit_code == 1
    assert result.stderr == (f"cml: error: no GitLab API answered at {server.url}/api/v4 or {server.url}/elsewhere/api/v4; "
                             f"pass --api-url {server.url}/PATH/api/v4 (the address of GitLab's API for "
                             f"{server.url}/elsewhere/ml/models)\n")


def test_in_gitlab_ci_a_repo_url_on_the_subpath_server_is_the_cis_project_or_another_one_there():
    from cml.forges.registry import repository_context
    from tests.fakes.ci_env import SHA

    env = {"CI": "true", "GITLAB_CI": "true", "CI_API_V4_URL": "https://host.test/gitlab/api/v4", "CI_PROJECT_ID": "42",
           "CI_PROJECT_PATH": "ml/models", "CI_SERVER_URL": "https://host.test/gitlab", "CI_COMMIT_SHA": SHA,
           "CI_MERGE_REQUEST_IID": "5"}
    same = repository_context(env, repo="https://host.test/gitlab/ml/models.git")
    assert (same.repository, same.project_id, same.pull_request) == ("ml/models", "42", 5)
    other = repository_context(env, repo="https://host.test/gitlab/ml/other")
    assert (other.repository, other.api_url, other.server_url, other.project_id) == (
        "ml/other", "https://host.test/gitlab/api/v4", "https://host.test/gitlab", None)


@pytest.mark.parametrize("repo", ["https://bitbucket.com/team/models", "git@bitbucket.com:team/models.git",
                                  "https://user@bitbucket.org/team/models.git"])
def test_bitbucket_com_is_bitbucket_cloud(repo):
    from cml.forges.registry import repository_context

    context = repository_context({}, repo=repo)
    assert (context.driver, context.api_url, context.repository, context.server_url) == (
        "bitbucket", "https://api.bitbucket.org/2.0", "team/models", "https://bitbucket.org")
