"""Bitbucket Cloud, through its 2.0 REST API with requests.

Tokens: an access token (repository, project or workspace) is sent as a Bearer
token; ``user:app_password``, plain or base64-encoded as iterative/cml expected,
as Basic authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from cml.ci import RepositoryContext, detect, int_or_none
from cml.forges.base import STATUS_DESCRIPTION_LIMIT, Check, Comment, Forge, PullRequest, Target
from cml.forges.errors import FORGE_ERRORS, proven
from cml.http import HttpPolicy, JsonApi
from cml.secrets import register_secret


def authorization_header(token: str) -> str:
    """``Basic …`` for app passwords (``user:password`` or its base64), else ``Bearer …``."""
    if ":" in token:
        return "Basic " + base64.b64encode(token.encode()).decode()
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    return f"Basic {token}" if ":" in decoded else f"Bearer {token}"


class BitbucketForge(Forge):
    """Comments on Bitbucket Cloud pull requests, issues and commits.

    Endpoints under ``/repositories/{workspace}/{repo_slug}``: ``/pullrequests/{id}/comments``,
    ``/issues/{id}/comments``, ``/commit/{sha}/comments`` (each with ``/{comment_id}``),
    ``/commit/{sha}/pullrequests``; and ``/user``.
    """

    name = "bitbucket"
    label = "Bitbucket"
    # iterative/cml took bitbucket.org, bitbucket.com and their subdomains (altssh.bitbucket.org) as Bitbucket Cloud.
    well_known_hosts = ("bitbucket.org", "bitbucket.com")
    includes_subdomains = True
    default_api_url = "https://api.bitbucket.org/2.0"
    public_web_url = "https://bitbucket.org"
    api_url_variable = "BITBUCKET_API_URL"
    token_variable = "BITBUCKET_TOKEN"
    comment_limit = 32_767
    summary_limit = STATUS_DESCRIPTION_LIMIT
    check_kind = "build status"
    publishes_files_to = "the repository's Downloads"
    git_username = "x-token-auth"
    ci_names = ("bitbucket",)

    @classmethod
    def from_ci(cls, environ: Mapping[str, str]) -> RepositoryContext | None:
        """Bitbucket Pipelines: the ``BITBUCKET_*`` variables."""
        if detect(environ).name not in cls.ci_names:
            return None
        workspace, slug = environ.get("BITBUCKET_WORKSPACE"), environ.get("BITBUCKET_REPO_SLUG")
        full_name = environ.get("BITBUCKET_REPO_FULL_NAME") or (f"{workspace}/{slug}" if workspace and slug else None)
        return RepositoryContext(
            driver=cls.name, api_url=environ.get("BITBUCKET_API_URL") or cls.default_api_url,
            repository=full_name, sha=environ.get("BITBUCKET_COMMIT"),
            pull_request=int_or_none(environ.get("BITBUCKET_PR_ID")), run_id=environ.get("BITBUCKET_BUILD_NUMBER"),
            workflow=environ.get("BITBUCKET_PIPELINE_UUID"), ci=cls.name,
            server_url=cls._web_url_of(environ.get("BITBUCKET_GIT_HTTP_ORIGIN")),
        )

    @staticmethod
    def _web_url_of(origin: str | None) -> str | None:
        """``https://bitbucket.org`` from ``BITBUCKET_GIT_HTTP_ORIGIN`` (which Pipelines gives as ``http://``)."""
        parts = urlsplit(origin or "")
        if not parts.netloc:
            return None
        scheme = "https" if parts.hostname == "bitbucket.org" else parts.scheme
        return f"{scheme}://{parts.netloc}"

    @classmethod
    def rerun_target(cls, context: RepositoryContext) -> str | None:
        """The pipeline's uuid (``BITBUCKET_PIPELINE_UUID``), not its build number."""
        return context.workflow
    MERGE_STRATEGIES = {"merge": "merge_commit", "rebase": "fast_forward", "squash": "squash"}

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None):
        super().__init__(api_url, repository, token, policy)
        register_secret(token)
        self.api = JsonApi(self.api_url, {"Authorization": authorization_header(token)}, self.policy, "Bitbucket",
                           FORGE_ERRORS)

    def _comments_path(self, target: Target) -> str:
        section = {"pr": "pullrequests", "issue": "issues", "commit": "commit"}[target.kind]
        return f"/repositories/{self.repository}/{section}/{target.ref}/comments"

    @staticmethod
    def _comment(raw: dict) -> Comment:
        links = raw.get("links") or {}
        url = (links.get("html") or {}).get("href") or (links.get("self") or {}).get("href") or ""
        user = raw.get("user") or {}
        return Comment(int(raw["id"]), (raw.get("content") or {}).get("raw") or "", url,
                       user.get("uuid") or user.get("account_id"))

    def _pages(self, path: str, action: str) -> list[dict]:
        values: list[dict] = []
        url: str | None = path
        params: dict | None = {"pagelen": 100}
        while url:
            page = self.api.json("GET", url, action, params=params) or {}
            values.extend(page.get("values") or [])
            url, params = page.get("next"), None
        return values

    def comments(self, target: Target) -> list[Comment]:
        """``GET …/comments?pagelen=100``, following ``next`` links; deleted comments skipped."""
        raw = self._pages(self._comments_path(target), f"listing comments on {target}")
        return [self._comment(c) for c in raw if not c.get("deleted")]

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST …/comments`` with ``{"content": {"raw": body}}``."""
        action = f"commenting on {target}"
        raw = self.api.json("POST", self._comments_path(target), action, json={"content": {"raw": body}})
        return self._comment(proven(raw, "Bitbucket", action, "id"))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PUT …/comments/{comment_id}``."""
        raw = self.api.json("PUT", f"{self._comments_path(target)}/{comment.id}", f"updating comment {comment.id} on {target}",
                            json={"content": {"raw": body}})
        return self._comment(raw) if raw else Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE …/comments/{comment_id}``."""
        self.api.request("DELETE", f"{self._comments_path(target)}/{comment.id}", f"deleting comment {comment.id} on {target}")

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /repositories/{workspace}/{repo_slug}/commit/{sha}/pullrequests``: open ones, newest first."""
        raw = self._pages(f"/repositories/{self.repository}/commit/{sha}/pullrequests", f"finding pull requests for {sha}")
        return sorted((int(p["id"]) for p in raw if p.get("state") == "OPEN"), reverse=True)

    def viewer(self) -> str | None:
        """``GET /user``: the token user's uuid; ``None`` for access tokens, which have no user."""
        return self._remembered_viewer(
            lambda: (self.api.json("GET", "/user", "identifying the token's user") or {}).get("uuid"))

    def publish_check(self, check: Check) -> str:
        """``POST /repositories/{workspace}/{repo_slug}/commit/{sha}/statuses/build`` (queued and in_progress:
        INPROGRESS; completed: by conclusion); the same title updates the same status."""
        if check.status != "completed":
            state = "INPROGRESS"
        else:
            state = "SUCCESSFUL" if check.passed else "STOPPED" if check.conclusion == "cancelled" else "FAILED"
        url = check.details_url or f"https://bitbucket.org/{self.repository}/commits/{check.sha}"
        self.api.json("POST", f"/repositories/{self.repository}/commit/{check.sha}/statuses/build", "setting the build status",
                      json={"key": "cml-" + hashlib.sha1(check.title.encode()).hexdigest()[:12], "state": state,
                            "name": check.title, "url": url, "description": check.description(255)})
        return url

    @classmethod
    def credentials_for(cls, token: str) -> tuple[str, str]:
        """App passwords (``user:password``, plain or base64) as they are; access tokens as ``x-token-auth``."""
        header = authorization_header(token)
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[len("Basic "):]).decode().partition(":")
            return user, password
        return cls.git_username, token

    @staticmethod
    def _pull(raw: dict) -> PullRequest:
        return PullRequest(int(raw["id"]), ((raw.get("links") or {}).get("html") or {}).get("href", ""),
                           raw["source"]["branch"]["name"], raw["destination"]["branch"]["name"])

    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """``GET /repositories/{workspace}/{repo_slug}/pullrequests?state=OPEN&state=MERGED&q=…``."""
        query = f'source.branch.name="{source}" AND destination.branch.name="{target}"'
        page = self.api.json("GET", f"/repositories/{self.repository}/pullrequests", f"finding the pull request from {source}",
                             params={"state": ["OPEN", "MERGED"], "q": query}) or {}
        values = page.get("values") or []
        return self._pull(values[0]) if values else None

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /repositories/{workspace}/{repo_slug}/pullrequests``."""
        raw = self.api.json("POST", f"/repositories/{self.repository}/pullrequests",
                            f"opening a pull request from {source} into {target}",
                            json={"title": title, "description": body, "close_source_branch": True,
                                  "source": {"branch": {"name": source}}, "destination": {"branch": {"name": target}}})
        return self._pull(proven(raw, "Bitbucket", f"opening a pull request from {source} into {target}", "id"))

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """Bitbucket Cloud has no auto-merge: ``POST …/pullrequests/{id}/merge`` now."""
        self.api.json("POST", f"/repositories/{self.repository}/pullrequests/{pull.number}/merge",
                      f"merging pull request #{pull.number}",
                      json={"merge_strategy": self.MERGE_STRATEGIES[method], "close_source_branch": True})
        return "merged"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """``GET /repositories/{workspace}/{repo_slug}/pipelines/{pipeline_uuid}`` for its ``target``, then
        ``POST /repositories/{workspace}/{repo_slug}/pipelines/`` with that target: a new pipeline for the
        same commit and selector. Returns the new pipeline's page."""
        pipelines = f"/repositories/{self.repository}/pipelines/"
        old = self.api.json("GET", pipelines + quote(run_id, safe=""), f"reading pipeline {run_id}") or {}
        new = self.api.json("POST", pipelines, f"re-running pipeline {run_id}", json={"target": old.get("target")}) or {}
        link = ((new.get("links") or {}).get("html") or {}).get("href")
        number = new.get("build_number")
        return link or (f"https://bitbucket.org/{self.repository}/pipelines/results/{number}" if number else "")
