"""CI detection and the default base revision of a diff."""

import pytest

from cml.forges.environment import default_base_revision, detect


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
