"""Which forge, repository and token a command talks to, and the adapter for them."""

from __future__ import annotations

import os
from dataclasses import replace
from collections.abc import Mapping

from cml.forges.base import Forge
from cml.ci import (
    BITBUCKET_WEB_URL,
    RepositoryContext,
    api_base_path,
    api_url_for,
    ci_repository_context,
    driver_for_host,
    is_bitbucket_cloud,
    parse_remote_url,
    strip_base_path,
)
from cml.forges.errors import ForgeConfigurationError
from cml.http import HttpPolicy
from cml.secrets import register_secret
from cml.git import git_text

DRIVERS = ("github", "gitlab", "bitbucket", "gitea")
TOKEN_VARIABLES = ("REPO_TOKEN", "repo_token", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN")


def find_token(explicit: str | None, driver: str | None, environ: Mapping[str, str]) -> str:
    """``--token``, else the first of REPO_TOKEN, repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN."""
    if explicit:
        register_secret(explicit)
        return explicit
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            return environ[name]
    if driver == "gitlab" and environ.get("CI_JOB_TOKEN"):
        raise ForgeConfigurationError(
            "GitLab's CI_JOB_TOKEN cannot post notes; create a project access token with the 'api' scope "
            "(Reporter role or higher) and expose it to the job as REPO_TOKEN"
        )
    raise ForgeConfigurationError(
        "no token: set REPO_TOKEN (or GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN) or pass --token"
    )


def _git(*args: str, cwd=None) -> str | None:
    return git_text(args, cwd, probe=True) or None


def repository_context(
    environ: Mapping[str, str] | None = None,
    repo: str | None = None,
    driver: str | None = None,
    api_url: str | None = None,
    cwd: str | None = None,
) -> RepositoryContext:
    """Combine ``--repo``/``--driver``/``--api-url`` with what the CI (or the git clone) says.

    The CI's pull request, commit, run and project belong to the CI's repository only: a ``--repo``
    naming another one gets none of them.
    """
    env = os.environ if environ is None else environ
    context = ci_repository_context(env)
    if repo and context is not None and context.is_named_by(repo):
        repo = None
    if repo or context is None:
        url = repo or _git("config", "--get", "remote.origin.url", cwd=cwd)
        if not url:
            raise ForgeConfigurationError("cannot tell the repository: pass --repo URL or run in a clone with an 'origin' remote")
        parsed = parse_remote_url(url)
        if parsed is None and "/" in url and "://" not in url and context is not None:
            context = RepositoryContext(driver=context.driver, api_url=context.api_url, repository=url.strip("/"),
                                        server_url=context.server_url)
        elif parsed is None:
            raise ForgeConfigurationError(f"cannot read the repository URL '{url}'; pass --repo https://HOST/OWNER/NAME")
        else:
            scheme, host, path = parsed
            guessed = driver or driver_for_host(host) or (context.driver if context else None)
            if guessed is None:
                raise ForgeConfigurationError(
                    f"cannot tell which forge {host} runs; pass --driver {'|'.join(DRIVERS)} (and --api-url if needed)"
                )
            api, server, path = _locate_api(guessed, scheme, host, path, api_url, context, env)
            context = RepositoryContext(
                driver=guessed, api_url=api, repository=path,
                sha=None if context else _git("rev-parse", "HEAD", cwd=cwd), server_url=server,
            )
    if driver and driver != context.driver:
        context = replace(context, driver=driver)
    if api_url:
        context = replace(context, api_url=api_url)
    if not context.repository:
        raise ForgeConfigurationError("cannot tell the repository: pass --repo URL")
    return context


def _locate_api(driver: str, scheme: str, host: str, path: str, api_url: str | None,
                ci_context: RepositoryContext | None, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """``(API URL, web URL, repository path)`` of a repository at ``scheme://host/path``.

    A forge can live under a sub-path (``https://host/gitlab/group/project``): ``--api-url`` says where, else the
    CI's server when the repository is on it, else for GitLab the API is looked for along the path.
    """
    from urllib.parse import urlsplit

    origin = f"{scheme}://{host}"
    if driver == "bitbucket" and is_bitbucket_cloud(host):
        return api_url or api_url_for(driver, scheme, host), BITBUCKET_WEB_URL, path
    if api_url:
        parts = urlsplit(api_url)
        base = api_base_path(api_url) if (parts.hostname or "").lower() == host.split(":")[0].lower() else ""
        inner = strip_base_path(path, base)
        return api_url, origin + base.rstrip("/") if inner else origin, inner or path
    if ci_context is not None and ci_context.server_url and ci_context.api_url:
        server = urlsplit(ci_context.server_url)
        inner = strip_base_path(path, server.path) if (server.hostname or "").lower() == host.split(":")[0].lower() else None
        if inner and server.path.strip("/"):
            return ci_context.api_url, ci_context.server_url.rstrip("/"), inner
    if driver == "gitlab" and driver_for_host(host) is None and path.count("/") >= 2:
        return probe_gitlab_api(scheme, host, path, environ)
    return api_url_for(driver, scheme, host), origin, path


def _answers_as_gitlab(session, url: str) -> bool:
    """GitLab's ``/version`` answers JSON: the version (200), or ``{"message": "401 Unauthorized"}`` (401)."""
    response = session.get(url, allow_redirects=False, headers={"Accept": "application/json"})
    if response.status_code not in (200, 401) or "json" not in response.headers.get("Content-Type", ""):
        return False
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, dict) and ("version" in document if response.status_code == 200 else "message" in document)


def probe_gitlab_api(scheme: str, host: str, path: str, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """``(API URL, web URL, project path)`` of a self-managed GitLab that may live under a sub-path: as iterative/cml
    did, ``https://host/api/v4/version``, then ``https://host/<first folder>/api/v4/version``… until one answers as
    GitLab does. No token is sent: the host's root may be another application than GitLab."""
    import requests

    from cml.http import TransportRefusal, policy_session

    origin = f"{scheme}://{host}"
    segments = path.split("/")
    session = policy_session(origin, HttpPolicy.from_environment(environ))
    tried = []
    for count in range(len(segments) - 1):  # a project is at least namespace/name
        base = "/".join([origin, *segments[:count]])
        tried.append(f"{base}/api/v4")
        try:
            if _answers_as_gitlab(session, f"{base}/api/v4/version"):
                return f"{base}/api/v4", base, "/".join(segments[count:])
        except (requests.RequestException, TransportRefusal):
            continue
    raise ForgeConfigurationError(f"no GitLab API answered at {' or '.join(tried)}; pass --api-url "
                                  f"{origin}/PATH/api/v4 (the address of GitLab's API for {origin}/{path})")


#: The adapter class of each driver, imported only when asked for.
FORGE_CLASSES = {"github": ("cml.forges.github", "GitHubForge"), "gitlab": ("cml.forges.gitlab", "GitLabForge"),
                 "bitbucket": ("cml.forges.bitbucket", "BitbucketForge"), "gitea": ("cml.forges.gitea", "GiteaForge")}


def forge_class(driver: str) -> type[Forge]:
    """The adapter class for ``driver``."""
    import importlib

    if driver not in FORGE_CLASSES:
        raise ForgeConfigurationError(f"unknown driver '{driver}'; use one of {', '.join(DRIVERS)}")
    module, name = FORGE_CLASSES[driver]
    return getattr(importlib.import_module(module), name)


def git_credentials(driver: str, token: str) -> tuple[str, str]:
    """``(user, password)`` that ``driver``'s git server takes with ``token``, without opening the forge."""
    return forge_class(driver).credentials_for(token)


def open_forge(context: RepositoryContext, token: str, environ: Mapping[str, str] | None = None) -> Forge:
    """The adapter for ``context.driver``, configured with the shared HTTP policy."""
    env = os.environ if environ is None else environ
    policy = HttpPolicy.from_environment(env)
    if context.driver == "github":
        from cml.forges.github import GitHubForge

        return GitHubForge(context.api_url, context.repository, token, policy, web_url=context.server_url)
    if context.driver == "gitlab":
        from cml.forges.gitlab import GitLabForge

        return GitLabForge(context.api_url, context.repository, token, policy, project_id=context.project_id,
                           web_url=env.get("CI_PROJECT_URL") if context.project_id else None)
    if context.driver == "bitbucket":
        from cml.forges.bitbucket import BitbucketForge

        return BitbucketForge(context.api_url, context.repository, token, policy)
    if context.driver == "gitea":
        from cml.forges.gitea import GiteaForge

        return GiteaForge(context.api_url, context.repository, token, policy)
    raise ForgeConfigurationError(f"unknown driver '{context.driver}'; use one of {', '.join(DRIVERS)}")
