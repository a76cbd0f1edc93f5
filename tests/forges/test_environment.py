"""CI detection and the default base revision of a diff."""

import pytest

from cml.ci import default_base_revision, detect


@pytest.mark.parametrize(
    "environ, name, base",
    [
        ({}, None, "HEAD"),
        ({"CI": "true"}, "generic", "HEAD"),
        ({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "main"}, "github", "origin/main"),
        ({"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": ""}, "github", "HEAD"),
        ({"GITLAB_CI": "true", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop"}, "gitlab", "origin/develop"),
        ({"BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_PR_DESTINATION_BRANCH": "master"}, "bitbucket", "origin/master"),
        ({"GITHUB_ACTIONS": "true", "GITEA_ACTIONS": "true", "GITHUB_BASE_REF": "main"}, "gitea", "origin/main"),
        ({"GITHUB_ACTIONS": "true", "FORGEJO_ACTIONS": "true", "GITHUB_BASE_REF": "dev"}, "forgejo", "origin/dev"),
    ],
)
def test_detect(environ, name, base):
    assert detect(environ).name == name
    assert default_base_revision(environ) == base


class Server:
    url = "http://127.0.0.1:9"


def test_a_repo_other_than_the_cis_gets_none_of_its_pull_request_commit_run_or_project():
    from cml.forges.registry import repository_context
    from tests.fakes.ci_env import gitlab_env

    env = gitlab_env(Server, CI_MERGE_REQUEST_IID="5", CI_SERVER_URL="https://gitlab.test")
    other = repository_context(env, repo="ml/other")
    assert (other.repository, other.api_url, other.server_url) == ("ml/other", env["CI_API_V4_URL"],
                                                                    "https://gitlab.test")
    # GitLab addresses a project by its id when it has one: the CI's id would post to the CI's project.
    assert (other.project_id, other.pull_request, other.sha, other.run_id, other.workflow, other.ci) == (None,) * 6
    on_another_host = repository_context(env, repo="https://gitlab.example/ml/models")
    assert (on_another_host.api_url, on_another_host.pull_request, on_another_host.sha) == (
        "https://gitlab.example/api/v4", None, None)


@pytest.mark.parametrize("repo", ["ml/models", "ML/Models", "ml/models.git", "https://gitlab.test/ML/models.git",
                                  "git@gitlab.test:ml/models.git", "https://oauth2@gitlab.test:443/ml/models/"])
def test_a_repo_naming_the_cis_own_repository_keeps_its_context(repo):
    from cml.forges.registry import repository_context
    from tests.fakes.ci_env import SHA, gitlab_env

    env = gitlab_env(Server, CI_MERGE_REQUEST_IID="5", CI_SERVER_URL="https://gitlab.test")
    same = repository_context(env, repo=repo)
    assert (same.repository, same.api_url, same.project_id, same.pull_request, same.sha, same.run_id) == (
        "ml/models", env["CI_API_V4_URL"], "42", 5, SHA, "88")


def test_comment_on_another_repository_from_a_pull_request_job_needs_an_explicit_target(actions, github, run_cli,
                                                                                          monkeypatch):
    """PR #7's job of octo/ci-job names octo/models (which the fake serves): its PR #7 is not this job's."""
    from tests.fakes.ci_env import HEAD_SHA

    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/ci-job")
    for target in ("auto", "pr", "commit"):
        refused = run_cli("comment", "create", "report.md", "--repo", "octo/models", "--target", target)
        assert refused.exit_code == 1, refused.stdout
        assert refused.stderr == ("cml: error: --target: no pull request or commit of octo/models is known here (a "
                                  "CI's apply to its own repository only); pass --target pr/N, issue/N or commit/SHA\n")
    assert github.comments == {}

    explicit = run_cli("comment", "create", "report.md", "--repo", "octo/models", "--target", "pr/3")
    assert explicit.exit_code == 0, explicit.stderr
    (comment,) = github.comments.values()
    assert comment["number"] == 3 and HEAD_SHA not in comment["body"] and "f" * 40 not in comment["body"]


@pytest.mark.parametrize("repo", ["octo/models", "Octo/Models.git", "https://github.test/octo/models"])
def test_comment_with_the_jobs_own_repository_goes_to_its_pull_request(actions, github, run_cli, repo):
    result = run_cli("comment", "create", "report.md", "--repo", repo)
    assert result.exit_code == 0, result.stderr
    (comment,) = github.comments_on(number=7)
    assert result.stdout == comment["html_url"] + "\n"
