"""What the CI job tells cml through its environment variables.

GitHub Actions, Gitea and Forgejo Actions set ``GITHUB_*``; GitLab CI sets
``CI_*``; Bitbucket Pipelines sets ``BITBUCKET_*``. Only the standard library is
used here so every command can call it at start-up; what each forge makes of its
CI's variables is the forge class's :meth:`~cml.forges.base.Forge.from_ci`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

#: Where each CI checks the repository out.
WORKSPACE_VARIABLES = ("GITHUB_WORKSPACE", "CI_PROJECT_DIR", "BITBUCKET_CLONE_DIR")


@dataclass(frozen=True)
class CISystem:
    """A CI system: its name, the variables only it sets, and the one giving a pull request's target branch."""

    name: str
    markers: tuple[str, ...]
    base_branch_variable: str


#: The CI systems :func:`detect` recognises, first match wins (Gitea and Forgejo Actions also set GITHUB_ACTIONS).
CI_SYSTEMS = (
    CISystem("forgejo", ("FORGEJO_ACTIONS",), "GITHUB_BASE_REF"),
    CISystem("gitea", ("GITEA_ACTIONS",), "GITHUB_BASE_REF"),
    CISystem("github", ("GITHUB_ACTIONS",), "GITHUB_BASE_REF"),
    CISystem("gitlab", ("GITLAB_CI",), "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
    CISystem("bitbucket", ("BITBUCKET_BUILD_NUMBER", "BITBUCKET_COMMIT"), "BITBUCKET_PR_DESTINATION_BRANCH"),
)
#: The CI name of a CI that sets ``CI`` but none of the variables above.
GENERIC_CI = "generic"


@dataclass(frozen=True)
class CIEnvironment:
    """The CI system a command runs under, if any, and the pull request's base branch."""

    name: str | None
    base_branch: str | None

    @property
    def in_ci(self) -> bool:
        """Whether a CI system runs this command."""
        return self.name is not None

    @property
    def base_revision(self) -> str | None:
        """The remote-tracking ref of the pull request's target branch (``origin/main``)."""
        return f"origin/{self.base_branch}" if self.base_branch else None


def detect(environ: Mapping[str, str] | None = None) -> CIEnvironment:
    """Detect the CI system and pull-request base branch from ``environ``."""
    env = os.environ if environ is None else environ
    for system in CI_SYSTEMS:
        if any(env.get(marker) for marker in system.markers):
            return CIEnvironment(system.name, env.get(system.base_branch_variable) or None)
    base_variables = dict.fromkeys(system.base_branch_variable for system in CI_SYSTEMS)
    base = next((env[name] for name in base_variables if env.get(name)), None)
    return CIEnvironment(GENERIC_CI if env.get("CI") else None, base)


def default_base_revision(environ: Mapping[str, str] | None = None) -> str:
    """The revision ``metrics diff`` compares with by default: the PR's target branch, else ``HEAD``."""
    return detect(environ).base_revision or "HEAD"


@dataclass(frozen=True)
class RepositoryContext:
    """Where a report goes: forge, API, repository, commit and pull request.

    In CI every field comes from the CI's own variables; outside CI from the git
    remote and ``HEAD``. ``repository`` is ``owner/name`` (GitLab: the project path).
    ``driver`` is the forge's name (:attr:`cml.forges.base.Forge.name`); ``ci`` the forge whose CI gave the context.
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
        parsed = parse_remote_url(repo)
        host, path = (parsed[1], parsed[2]) if parsed else (None, repo.strip().strip("/").removesuffix(".git"))
        server = urlsplit(self.server_url or "")
        if host is not None and server.hostname:
            if host.split(":")[0].lower() != server.hostname.lower():
                return False
            inner = strip_base_path(path, server.path)  # a GitLab under https://host/gitlab
            if inner is None:
                return False
            path = inner
        return path.lower() == (self.repository or "").strip("/").lower()


def event_payload(path: str | None) -> dict[str, Any]:
    """The JSON object of the CI's event file (``GITHUB_EVENT_PATH``); empty when there is none or it is unreadable."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def int_or_none(value: Any) -> int | None:
    """``value`` as an int (a pull request number from a CI variable), or ``None``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: ``GITHUB_API_URL``'s value on github.com, which Actions runners elsewhere may leave unset.
ACTIONS_DEFAULT_API_URL = "https://api.github.com"


def actions_context(environ: Mapping[str, str], driver: str, server_api_path: str | None = None) -> RepositoryContext:
    """The context the ``GITHUB_*`` variables of GitHub-style Actions give (GitHub, Gitea and Forgejo Actions), for
    forge ``driver``. Without ``GITHUB_API_URL`` the API is ``GITHUB_SERVER_URL`` and ``server_api_path`` when that
    is given, else GitHub's."""
    event = event_payload(environ.get("GITHUB_EVENT_PATH"))
    pull = event.get("pull_request") if isinstance(event.get("pull_request"), dict) else None
    sha = environ.get("GITHUB_SHA")
    number = None
    if pull:
        number = int_or_none(pull.get("number"))
        # GITHUB_SHA is the merge commit on pull_request events; the head is what was pushed.
        sha = (pull.get("head") or {}).get("sha") or sha
    elif isinstance(event.get("issue"), dict) and event["issue"].get("pull_request"):
        number = int_or_none(event["issue"].get("number"))
    server = environ.get("GITHUB_SERVER_URL")
    api = environ.get("GITHUB_API_URL")
    if not api and server and server_api_path is not None:
        api = server.rstrip("/") + server_api_path
    return RepositoryContext(
        driver=driver, api_url=api or ACTIONS_DEFAULT_API_URL, repository=environ.get("GITHUB_REPOSITORY"),
        sha=sha, pull_request=number, server_url=server, run_id=environ.get("GITHUB_RUN_ID"),
        workflow=environ.get("GITHUB_WORKFLOW"), ci=driver,
    )


def parse_remote_url(url: str) -> tuple[str, str, str] | None:
    """``(scheme, host, path)`` of a git remote (https, ssh or scp-like), credentials dropped."""
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
    return re.sub(r"/api(?:/v\d+)?/?$", "", urlsplit(api_url).path.rstrip("/")) if api_url else ""
