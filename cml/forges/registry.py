"""Which forge, repository and token a command talks to, and the adapter for them."""

from __future__ import annotations

import os
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
from cml.forges.secrets import register_secret
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
            guessed = driver or HOST_DRIVERS.get(host.split(":")[0]) or (context.driver if context else None)
            if guessed is None:
                raise ForgeConfigurationError(
                    f"cannot tell which forge {host} runs; pass --driver {'|'.join(DRIVERS)} (and --api-url if needed)"
                )
            context = RepositoryContext(
                driver=guessed, api_url=api_url or api_url_for(guessed, scheme, host), repository=path,
                sha=None if context else _git("rev-parse", "HEAD", cwd=cwd), server_url=f"{scheme}://{host}",
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
