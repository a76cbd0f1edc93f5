"""The environment variables each CI sets, for driving the real CLI against the fakes."""


HEAD_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
TOKEN = "ghs_ActionsToken1234567890"
PAT = "ghp_PersonalToken1234567890"
SHA = "0123456789abcdef0123456789abcdef01234567"
REPORT = "# Report\n\nall good\n"


def gitlab_env(server, **extra):
    return {"CI": "true", "GITLAB_CI": "true", "CI_API_V4_URL": f"{server.url}/api/v4", "CI_PROJECT_ID": "42",
            "CI_PROJECT_PATH": "ml/models", "CI_PROJECT_URL": "https://gitlab.test/ml/models", "CI_COMMIT_SHA": SHA,
            "CI_PIPELINE_ID": "77", "CI_JOB_ID": "88", "REPO_TOKEN": "glpat-secret-token", "CML_HTTP_BACKOFF": "0.01",
            **extra}


def bitbucket_env(server, token, **extra):
    return {"CI": "true", "BITBUCKET_BUILD_NUMBER": "12", "BITBUCKET_COMMIT": SHA, "BITBUCKET_WORKSPACE": "team",
            "BITBUCKET_REPO_SLUG": "models", "BITBUCKET_PIPELINE_UUID": "{p}", "BITBUCKET_API_URL": f"{server.url}/2.0",
            "REPO_TOKEN": token, "CML_HTTP_BACKOFF": "0.01", **extra}


def gitea_env(server, tmp_path, **extra):
    event = tmp_path / "event.json"
    event.write_text(f'{{"pull_request": {{"number": 2, "head": {{"sha": "{SHA}"}}}}}}')
    return {"CI": "true", "GITHUB_ACTIONS": "true", "GITEA_ACTIONS": "true", "GITHUB_API_URL": f"{server.url}/api/v1",
            "GITHUB_SERVER_URL": "https://gitea.test", "GITHUB_REPOSITORY": "ml/models", "GITHUB_SHA": SHA,
            "GITHUB_EVENT_PATH": str(event), "GITHUB_RUN_ID": "9", "GITEA_TOKEN": "gitea-token-123",
            "CML_HTTP_BACKOFF": "0.01", **extra}
