"""Which forge, repository and token a command talks to, and the adapter for them.

Every forge is one :class:`~cml.forges.base.Forge` subclass answering the same questions (hosts, API paths, CI
variables, tokens); this module only asks them, in the order of :data:`FORGES`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from cml.ci import RepositoryContext, api_base_path, parse_remote_url, strip_base_path
from cml.forges.base import Forge
from cml.forges.bitbucket import BitbucketForge
from cml.forges.errors import ForgeConfigurationError
from cml.forges.gitea import GiteaForge
from cml.forges.github import GitHubForge
from cml.forges.gitlab import GitLabForge
from cml.git import git_text
from cml.http import HttpPolicy
from cml.secrets import register_secret

#: The forges cml talks to; a new forge is one module with its Forge subclass, and one entry here.
FORGES: tuple[type[Forge], ...] = (GitHubForge, GitLabForge, BitbucketForge, GiteaForge)
#: Their names: ``--driver``'s choices.
DRIVERS = tuple(forge.name for forge in FORGES)
#: Where a token is looked for, in order: REPO_TOKEN, repo_token, then each forge's own variable (GITHUB_TOKEN…).
TOKEN_VARIABLES = ("REPO_TOKEN", "repo_token", *(forge.token_variable for forge in FORGES))


def forge_class(driver: str | None) -> type[Forge]:
    """The adapter class named ``driver``."""
    for forge in FORGES:
        if forge.name == driver:
            return forge
    raise ForgeConfigurationError(f"unknown driver '{driver}'; use one of {', '.join(DRIVERS)}")


def driver_for_host(host: str) -> str | None:
    """The forge a well-known host runs (``github.com``, ``altssh.bitbucket.org``…), or ``None``."""
    return next((forge.name for forge in FORGES if forge.recognises_host(host)), None)


def ci_repository_context(environ: Mapping[str, str] | None = None) -> RepositoryContext | None:
    """The repository context a CI job provides, or ``None`` outside a known CI."""
    env = os.environ if environ is None else environ
    return next((context for forge in FORGES if (context := forge.from_ci(env)) is not None), None)


def find_token(explicit: str | None, driver: str | None, environ: Mapping[str, str]) -> str:
    """``--token``, else the first of REPO_TOKEN, repo_token, GITHUB_TOKEN, GITLAB_TOKEN, BITBUCKET_TOKEN, GITEA_TOKEN."""
    if explicit:
        register_secret(explicit)
        return explicit
    for name in TOKEN_VARIABLES:
        if environ.get(name):
            return environ[name]
    forge = forge_class(driver) if driver in DRIVERS else None
    if forge and forge.job_token_variable and environ.get(forge.job_token_variable):
        raise ForgeConfigurationError(forge.job_token_advice)
    raise ForgeConfigurationError(
        f"no token: set REPO_TOKEN (or {', '.join(forge.token_variable for forge in FORGES)}) or pass --token"
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
    CI's server when the repository is on it, else the forge may look for it (:meth:`Forge.probe_api`).
    """
    forge = forge_class(driver)
    origin = f"{scheme}://{host}"
    if forge.public_web_url and forge.recognises_host(host):
        return api_url or forge.api_url_for(scheme, host), forge.public_web_url, path
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
    probed = forge.probe_api(scheme, host, path, environ) if driver_for_host(host) is None else None
    return probed or (forge.api_url_for(scheme, host), origin, path)


def git_credentials(driver: str, token: str) -> tuple[str, str]:
    """``(user, password)`` that ``driver``'s git server takes with ``token``, without opening the forge."""
    return forge_class(driver).credentials_for(token)


def open_forge(context: RepositoryContext, token: str, environ: Mapping[str, str] | None = None) -> Forge:
    """The adapter for ``context.driver``, configured with the shared HTTP policy."""
    env = os.environ if environ is None else environ
    return forge_class(context.driver).open(context, token, HttpPolicy.from_environment(env), env)
