"""Gitea and Forgejo, through their REST API (``/api/v1``) with requests.

In Gitea/Forgejo Actions the API base comes from ``GITHUB_API_URL``, which those
runners set to ``https://HOST/api/v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from cml.ci import RepositoryContext, actions_context, detect
from cml.forges.base import STATUS_DESCRIPTION_LIMIT, Check, Comment, Forge, PullRequest, Target
from cml.forges.errors import FORGE_ERRORS, ForgeNotFoundError, UnsupportedOperationError, proven
from cml.http import HttpPolicy, JsonApi
from cml.secrets import register_secret


class GiteaForge(Forge):
    """Comments on Gitea/Forgejo pull requests and issues (which share one comment API).

    Endpoints: ``/repos/{owner}/{repo}/issues/{index}/comments``,
    ``/repos/{owner}/{repo}/issues/comments/{id}``, ``/repos/{owner}/{repo}/commits/{sha}/pull``, ``/user``.
    Gitea has no commit comments.
    """

    name = "gitea"
    label = "Gitea"
    well_known_hosts = ("codeberg.org",)
    default_api_url = "https://codeberg.org/api/v1"
    api_path = "/api/v1"
    api_url_variable = "GITHUB_API_URL"
    token_variable = "GITEA_TOKEN"
    comment_limit = 65_536
    summary_limit = STATUS_DESCRIPTION_LIMIT
    check_kind = "commit status"
    publishes_files_to = "pull-request attachments"
    # Forgejo is a Gitea fork with the same API: one driver serves both.
    ci_names = ("gitea", "forgejo")

    @classmethod
    def from_ci(cls, environ: Mapping[str, str]) -> RepositoryContext | None:
        """Gitea and Forgejo Actions: the ``GITHUB_*`` variables, with the API under the server's ``/api/v1``."""
        return actions_context(environ, cls.name, cls.api_path) if detect(environ).name in cls.ci_names else None

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None):
        super().__init__(api_url, repository, token, policy)
        register_secret(token)
        self.api = JsonApi(self.api_url, {"Authorization": f"token {token}"}, self.policy, "Gitea", FORGE_ERRORS)

    def _issue_path(self, target: Target) -> str:
        if target.kind == "commit":
            raise UnsupportedOperationError(
                "Gitea has no commit comments; use --target pr, pr/N or issue/N (auto needs an open pull request)"
            )
        return f"/repos/{self.repository}/issues/{target.ref}/comments"

    @staticmethod
    def _comment(raw: dict) -> Comment:
        return Comment(int(raw["id"]), raw.get("body") or "", raw.get("html_url") or "", (raw.get("user") or {}).get("login"))

    def comments(self, target: Target) -> list[Comment]:
        """``GET /repos/{owner}/{repo}/issues/{index}/comments`` (every page)."""
        raw = self.api.pages_by_link(self._issue_path(target), f"listing comments on {target}", {"limit": 50})
        return [self._comment(item) for item in raw]

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST /repos/{owner}/{repo}/issues/{index}/comments``."""
        action = f"commenting on {target}"
        return self._comment(proven(self.api.json("POST", self._issue_path(target), action, json={"body": body}),
                                    "Gitea", action, "id"))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PATCH /repos/{owner}/{repo}/issues/comments/{id}``."""
        raw = self.api.json("PATCH", f"/repos/{self.repository}/issues/comments/{comment.id}",
                            f"updating comment {comment.id} on {target}", json={"body": body})
        return self._comment(raw) if raw else Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE /repos/{owner}/{repo}/issues/comments/{id}``."""
        self.api.request("DELETE", f"/repos/{self.repository}/issues/comments/{comment.id}",
                         f"deleting comment {comment.id} on {target}")

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /repos/{owner}/{repo}/commits/{sha}/pull``: the pull request that introduced the commit."""
        try:
            pull = self.api.json("GET", f"/repos/{self.repository}/commits/{sha}/pull", f"finding the pull request of {sha}")
        except ForgeNotFoundError:
            return []
        return [int(pull["number"])] if pull and pull.get("state") == "open" else []

    def viewer(self) -> str | None:
        """``GET /user``; ``None`` (match any author) when the token cannot read it."""
        return self._remembered_viewer(
            lambda: (self.api.json("GET", "/user", "identifying the token's user") or {}).get("login"))

    def publish_check(self, check: Check) -> str:
        """``POST /repos/{owner}/{repo}/statuses/{sha}``: a commit status named after the check (queued and
        in_progress: pending; completed: by conclusion)."""
        state = "pending" if check.status != "completed" else "success" if check.passed else "failure"
        data = {"state": state, "context": check.title, "description": check.description(255)}
        if check.details_url:
            data["target_url"] = check.details_url
        self.api.json("POST", f"/repos/{self.repository}/statuses/{check.sha}", "setting the commit status", json=data)
        return check.details_url or ""

    @staticmethod
    def _pull(raw: dict) -> PullRequest:
        return PullRequest(int(raw["number"]), raw.get("html_url") or "", (raw.get("head") or {}).get("ref", ""),
                           (raw.get("base") or {}).get("ref", ""))

    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """``GET /repos/{owner}/{repo}/pulls/{base}/{head}``; ``None`` when there is none or it was closed unmerged."""
        try:
            raw = self.api.json("GET", f"/repos/{self.repository}/pulls/{quote(target, safe='')}/{quote(source, safe='')}",
                                f"finding the pull request from {source}")
        except ForgeNotFoundError:
            return None
        return self._pull(raw) if raw and (raw.get("state") == "open" or raw.get("merged")) else None

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /repos/{owner}/{repo}/pulls``."""
        action = f"opening a pull request from {source} into {target}"
        raw = self.api.json("POST", f"/repos/{self.repository}/pulls", action,
                            json={"head": source, "base": target, "title": title, "body": body})
        return self._pull(proven(raw, "Gitea", action, "number"))

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """``POST /repos/{owner}/{repo}/pulls/{index}/merge`` with ``merge_when_checks_succeed``."""
        self.api.request("POST", f"/repos/{self.repository}/pulls/{pull.number}/merge",
                         f"merging pull request #{pull.number}",
                         json={"Do": method, "merge_when_checks_succeed": True, "delete_branch_after_merge": True})
        return "auto-merge"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """No request: Gitea and Forgejo have no API to re-run an Actions run."""
        raise UnsupportedOperationError(
            f"Gitea/Forgejo has no API to re-run an Actions run; re-run run {run_id} from its page in the web UI"
        )
