"""What the CI job tells cml through its environment variables.

GitHub Actions, Gitea and Forgejo Actions set ``GITHUB_*``; GitLab CI sets
``CI_*``; Bitbucket Pipelines sets ``BITBUCKET_*``. Only the standard library is
used here so every command can call it at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Mapping


@dataclass(frozen=True)
class CIEnvironment:
    """The CI system a command runs under, if any, and the pull request's base branch."""

    name: str | None
    base_branch: str | None

    @property
    def in_ci(self) -> bool:
        return self.name is not None

    @property
    def base_revision(self) -> str | None:
        """The remote-tracking ref of the pull request's target branch (``origin/main``)."""
        return f"origin/{self.base_branch}" if self.base_branch else None


def detect(environ: Mapping[str, str] | None = None) -> CIEnvironment:
    """Detect the CI system and pull-request base branch from ``environ``."""
    env = os.environ if environ is None else environ
    if env.get("GITEA_ACTIONS") or env.get("FORGEJO_ACTIONS"):
        name = "forgejo" if env.get("FORGEJO_ACTIONS") else "gitea"
        return CIEnvironment(name, env.get("GITHUB_BASE_REF") or None)
    if env.get("GITHUB_ACTIONS"):
        return CIEnvironment("github", env.get("GITHUB_BASE_REF") or None)
    if env.get("GITLAB_CI"):
        return CIEnvironment("gitlab", env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") or None)
    if env.get("BITBUCKET_BUILD_NUMBER") or env.get("BITBUCKET_COMMIT"):
        return CIEnvironment("bitbucket", env.get("BITBUCKET_PR_DESTINATION_BRANCH") or None)
    base = (
        env.get("GITHUB_BASE_REF")
        or env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
        or env.get("BITBUCKET_PR_DESTINATION_BRANCH")
    )
    return CIEnvironment("generic" if env.get("CI") else None, base or None)


def default_base_revision(environ: Mapping[str, str] | None = None) -> str:
    """The revision ``metrics diff`` compares with by default: the PR's target branch, else ``HEAD``."""
    return detect(environ).base_revision or "HEAD"


DEFAULT_API_URLS = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
    "bitbucket": "https://api.bitbucket.org/2.0",
}
HOST_DRIVERS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket", "bitbucket.com": "bitbucket",
                "codeberg.org": "gitea"}
BITBUCKET_WEB_URL = "https://bitbucket.org"


def is_bitbucket_cloud(host: str) -> bool:
    """``bitbucket.org``, ``bitbucket.com`` and their subdomains (``altssh.bitbucket.org``), as iterative/cml
    recognised them: all are Bitbucket Cloud, with one API."""
    name = host.split(":")[0].lower()
    return any(name == domain or name.endswith("." + domain) for domain in ("bitbucket.org", "bitbucket.com"))


def driver_for_host(host: str) -> str | None:
    """The forge a well-known host runs, or ``None``."""
    name = host.split(":")[0].lower()
    return HOST_DRIVERS.get(name) or ("bitbucket" if is_bitbucket_cloud(name) else None)


@dataclass(frozen=True)
class RepositoryContext:
    """Where a report goes: forge, API, repository, commit and pull request.

    In CI every field comes from the CI's own variables; outside CI from the git
    remote and ``HEAD``. ``repository`` is ``owner/name`` (GitLab: the project path).
    """

    driver: str | None
    api_url: str | None
    repository: str | None
    sha: str | None = None
    pull_request: int | None = None
    project_id: str | None = None
    server_url: str | None = None
    run_id: str | None = None
    workflow: str | None = None
    ci: str | None = None

    def is_named_by(self, repo: str) -> bool:
        """True if ``repo`` (``OWNER/NAME`` or a remote URL) names this repository: the same path, whatever
        its case or ``.git`` suffix, on the same host when both are known."""
        from urllib.parse import urlsplit

        parsed = parse_remote_url(repo)
        host, path = (parsed[1], parsed[2]) if parsed else (None, repo.strip().strip("/").removesuffix(".git"))
        server = urlsplit(self.server_url or "")
        if host is not None and server.hostname:
            if host.split(":")[0].lower() != server.hostname.lower():
                return False
            path = strip_base_path(path, server.path)  # a GitLab under https://host/gitlab
            if path is None:
                return False
        return path.lower() == (self.repository or "").strip("/").lower()

    @property
    def actions_run_url(self) -> str | None:
        """The GitHub Actions run page (its job summary is there), when this is a GitHub Actions run."""
        if self.driver != "github" or not (self.server_url and self.run_id and self.repository):
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"


def _event_payload(path: str | None) -> dict:
    import json

    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _github_actions_context(env: Mapping[str, str], driver: str) -> RepositoryContext:
    event = _event_payload(env.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
    sha = env.get("GITHUB_SHA")
    number = None
    if pull:
        number = _int_or_none(pull.get("number"))
        # GITHUB_SHA is the merge commit on pull_request events; the head is what was pushed.
        sha = (pull.get("head") or {}).get("sha") or sha
    elif isinstance(event.get("issue"), dict) and event["issue"].get("pull_request"):
        number = _int_or_none(event["issue"].get("number"))
    server = env.get("GITHUB_SERVER_URL")
    api = env.get("GITHUB_API_URL")
    if not api and server:
        api = f"{server.rstrip('/')}/api/v1" if driver == "gitea" else DEFAULT_API_URLS["github"]
    return RepositoryContext(
        driver=driver, api_url=api or DEFAULT_API_URLS["github"], repository=env.get("GITHUB_REPOSITORY"),
        sha=sha, pull_request=number, server_url=server, run_id=env.get("GITHUB_RUN_ID"),
        workflow=env.get("GITHUB_WORKFLOW"), ci=driver,
    )


def _bitbucket_web_url(origin: str | None) -> str | None:
    """``https://bitbucket.org`` from ``BITBUCKET_GIT_HTTP_ORIGIN`` (which Pipelines gives as ``http://``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin or "")
    if not parts.netloc:
        return None
    scheme = "https" if parts.hostname == "bitbucket.org" else parts.scheme
    return f"{scheme}://{parts.netloc}"


def ci_repository_context(environ: Mapping[str, str] | None = None) -> RepositoryContext | None:
    """The repository context a CI job provides, or ``None`` outside a known CI."""
    env = os.environ if environ is None else environ
    ci = detect(env).name
    if ci in ("github", "gitea", "forgejo"):
        return _github_actions_context(env, "github" if ci == "github" else "gitea")
    if ci == "gitlab":
        return RepositoryContext(
            driver="gitlab", api_url=env.get("CI_API_V4_URL") or DEFAULT_API_URLS["gitlab"],
            repository=env.get("CI_PROJECT_PATH"), project_id=env.get("CI_PROJECT_ID"), sha=env.get("CI_COMMIT_SHA"),
            pull_request=_int_or_none(env.get("CI_MERGE_REQUEST_IID")), server_url=env.get("CI_SERVER_URL"),
            run_id=env.get("CI_JOB_ID"), workflow=env.get("CI_PIPELINE_ID"), ci="gitlab",
        )
    if ci == "bitbucket":
        workspace, slug = env.get("BITBUCKET_WORKSPACE"), env.get("BITBUCKET_REPO_SLUG")
        full_name = env.get("BITBUCKET_REPO_FULL_NAME") or (f"{workspace}/{slug}" if workspace and slug else None)
        return RepositoryContext(
            driver="bitbucket", api_url=env.get("BITBUCKET_API_URL") or DEFAULT_API_URLS["bitbucket"],
            repository=full_name, sha=env.get("BITBUCKET_COMMIT"), pull_request=_int_or_none(env.get("BITBUCKET_PR_ID")),
            run_id=env.get("BITBUCKET_BUILD_NUMBER"), workflow=env.get("BITBUCKET_PIPELINE_UUID"), ci="bitbucket",
            server_url=_bitbucket_web_url(env.get("BITBUCKET_GIT_HTTP_ORIGIN")),
        )
    return None


def parse_remote_url(url: str) -> tuple[str, str, str] | None:
    """``(scheme, host, path)`` of a git remote (https, ssh or scp-like), credentials dropped."""
    import re
    from urllib.parse import urlsplit

    url = url.strip()
    scp = re.match(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$", url)
    if "://" not in url and scp:
        host, path, scheme = scp["host"], scp["path"], "https"
    else:
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        host = parts.hostname + (f":{parts.port}" if parts.port and parts.scheme in ("http", "https") else "")
        path, scheme = parts.path, "http" if parts.scheme == "http" else "https"
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return scheme, host, path


def strip_base_path(path: str, base_path: str) -> str | None:
    """``group/project`` of ``gitlab/group/project`` when the forge lives under ``/gitlab`` (``base_path``);
    ``path`` itself for a forge at the root; ``None`` when ``path`` is not under ``base_path``."""
    base = base_path.strip("/")
    if not base:
        return path
    return path[len(base) + 1:] if path.lower().startswith(base.lower() + "/") else None


def api_base_path(api_url: str) -> str:
    """The path the forge lives under, from its API URL: ``/gitlab`` of ``https://host/gitlab/api/v4``."""
    import re
    from urllib.parse import urlsplit

    return re.sub(r"/api(?:/v\d+)?/?$", "", urlsplit(api_url).path.rstrip("/")) if api_url else ""


def api_url_for(driver: str, scheme: str, host: str) -> str:
    """The API base of ``driver`` on ``host`` (GitHub Enterprise, self-hosted GitLab, Gitea)."""
    if host in ("github.com", "gitlab.com"):
        return DEFAULT_API_URLS[HOST_DRIVERS[host]]
    if driver == "bitbucket" and is_bitbucket_cloud(host):
        return DEFAULT_API_URLS["bitbucket"]
    suffix = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}.get(driver, "")
    return f"{scheme}://{host}{suffix}"
