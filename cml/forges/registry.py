"""Which forge, repository and token a command talks to, and the adapter for them."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from typing import Mapping

from cml.forges.base import Forge
from cml.forges.environment import (
    HOST_DRIVERS,
    RepositoryContext,
    api_url_for,
    ci_repository_context,
    parse_remote_url,
)
from cml.forges.errors import ForgeConfigurationError
from cml.forges.http import HttpPolicy

DRIVERS = ("github", "gitlab", "bitbucket", "gitea")
TOKEN_VARIABLES = ("REPO_TOKEN", "repo_token", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN")


def find_token(explicit: str | None, driver: str | None, environ: Mapping[str, str]) -> str:
    """``--token``, else the first of REPO_TOKEN, repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN."""
    if explicit:
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
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def repository_context(
    environ: Mapping[str, str] | None = None,
    repo: str | None = None,
    driver: str | None = None,
    api_url: str | None = None,
    cwd: str | None = None,
) -> RepositoryContext:
    """Combine ``--repo``/``--driver``/``--api-url`` with what the CI (or the git clone) says."""
    env = os.environ if environ is None else environ
    context = ci_repository_context(env)
    if repo or context is None:
        url = repo or _git("config", "--get", "remote.origin.url", cwd=cwd)
        if not url:
            raise ForgeConfigurationError("cannot tell the repository: pass --repo URL or run in a clone with an 'origin' remote")
        parsed = parse_remote_url(url)
        if parsed is None and "/" in url and "://" not in url and context is not None:
            context = replace(context, repository=url.strip("/"))
        elif parsed is None:
            raise ForgeConfigurationError(f"cannot read the repository URL '{url}'; pass --repo https://HOST/OWNER/NAME")
        else:
            scheme, host, path = parsed
            guessed = driver or HOST_DRIVERS.get(host.split(":")[0]) or (context.driver if context else None)
            if guessed is None:
                raise ForgeConfigurationError(
                    f"cannot tell which forge {host} runs; pass --driver {'|'.join(DRIVERS)} (and --api-url if needed)"
                )
            sha = context.sha if context else _git("rev-parse", "HEAD", cwd=cwd)
            pull_request = context.pull_request if context else None
            context = RepositoryContext(
                driver=guessed, api_url=api_url or api_url_for(guessed, scheme, host), repository=path, sha=sha,
                pull_request=pull_request, server_url=f"{scheme}://{host}",
                run_id=context.run_id if context else None, workflow=context.workflow if context else None,
                ci=context.ci if context else None,
            )
    if driver and driver != context.driver:
        context = replace(context, driver=driver)
    if api_url:
        context = replace(context, api_url=api_url)
    if not context.repository:
        raise ForgeConfigurationError("cannot tell the repository: pass --repo URL")
    return context


def open_forge(context: RepositoryContext, token: str, environ: Mapping[str, str] | None = None) -> Forge:
    """The adapter for ``context.driver``, configured with the shared HTTP policy."""
    env = os.environ if environ is None else environ
    policy = HttpPolicy.from_environment(env)
    if context.driver == "github":
        from cml.forges.github import GitHubForge

        actions_token = bool(env.get("GITHUB_ACTIONS")) and token.startswith("ghs_")
        return GitHubForge(context.api_url, context.repository, token, policy, actions_token=actions_token,
                           web_url=context.server_url)
    if context.driver == "gitlab":
        from cml.forges.gitlab import GitLabForge

        return GitLabForge(context.api_url, context.repository, token, policy, project_id=context.project_id,
                           web_url=env.get("CI_PROJECT_URL"))
    if context.driver == "bitbucket":
        from cml.forges.bitbucket import BitbucketForge

        return BitbucketForge(context.api_url, context.repository, token, policy)
    if context.driver == "gitea":
        from cml.forges.gitea import GiteaForge

        return GiteaForge(context.api_url, context.repository, token, policy)
    raise ForgeConfigurationError(f"unknown driver '{context.driver}'; use one of {', '.join(DRIVERS)}")
