"""What the CI job tells cml through its environment variables.

GitHub Actions, Gitea and Forgejo Actions set ``GITHUB_*``; GitLab CI sets
``CI_*``; Bitbucket Pipelines sets ``BITBUCKET_*``. Only the standard library is
used here so every command can call it at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


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
