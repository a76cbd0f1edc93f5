"""GitLab.com and self-managed GitLab, through python-gitlab.

The API base comes from ``CI_API_V4_URL`` in GitLab CI (any host, any sub-path).
python-gitlab's own retries are off: :mod:`cml.http` applies the shared policy.
"""

from __future__ import annotations

from typing import Callable, TypeVar
from urllib.parse import quote

from cml.forges.base import Check, Comment, Forge, PullRequest, RunnerRegistration, SelfHostedRunner, Target
from cml.forges.errors import ForgeError, ForgeNotFoundError, ForgePermissionError
from cml.http import (
    HttpFailure,
    HttpPolicy,
    call_with_retries,
    cut,
    describe_requests_failure,
    policy_session,
    proven,
)
from cml.secrets import register_secret

T = TypeVar("T")
#: Per-request: python-gitlab would otherwise sleep and retry on 429 by itself.
NO_CLIENT_RETRIES = {"obey_rate_limit": False}
#: Pipeline statuses that must be cancelled before a retry re-runs the pipeline.
ACTIVE_PIPELINE_STATUSES = ("created", "waiting_for_resource", "preparing", "pending", "running")


def failure_describer(session) -> Callable[[BaseException], HttpFailure | None]:
    """python-gitlab and requests exceptions as an :class:`HttpFailure`. python-gitlab's exceptions carry no
    headers, so ``Retry-After`` and the rate-limit headers are read from ``session``'s last answer."""

    def describe(error: BaseException) -> HttpFailure | None:
        from gitlab.exceptions import GitlabError, GitlabParsingError, RedirectError

        if isinstance(error, RedirectError):
            return HttpFailure(301, {}, "the server redirected a write request; check CI_API_V4_URL")
        if isinstance(error, GitlabParsingError):
            return HttpFailure(None, {}, "the answer was not the JSON GitLab sends")
        if isinstance(error, GitlabError):
            message = cut(error.error_message or "error")
            if not error.response_code:
                return HttpFailure(None, {}, message)
            headers = getattr(session.last_headers, "value", None) or {}
            return HttpFailure(error.response_code, dict(headers), message)
        return describe_requests_failure(error)

    return describe


class GitLabForge(Forge):
    """Notes on GitLab merge requests and issues, and commit comments.

    Endpoints: ``/projects/:id/merge_requests/:iid/notes[/:note_id]``, ``/projects/:id/issues/:iid/notes[/:note_id]``,
    ``/projects/:id/repository/commits/:sha/comments``, ``/projects/:id/repository/commits/:sha/merge_requests``, ``/user``.
    Commit comments cannot be edited through GitLab's API.
    """

    name = "gitlab"
    label = "GitLab"
    api_url_variable = "CI_API_V4_URL"
    comment_limit = 1_000_000
    git_username = "oauth2"
    edits_commit_comments = False

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None,
                 project_id: str | None = None, web_url: str | None = None):
        super().__init__(api_url, repository, token, policy)
        import gitlab

        register_secret(token)
        server = self.api_url[: -len("/api/v4")] if self.api_url.endswith("/api/v4") else self.api_url
        self._session = policy_session(server, self.policy)
        self._describe = failure_describer(self._session)
        self._gitlab = gitlab.Gitlab(server, private_token=token, timeout=self.policy.timeout, per_page=100,
                                     retry_transient_errors=False, user_agent="cml", session=self._session)
        self.project = self._gitlab.projects.get(project_id or repository, lazy=True)
        self.server_url = server
        self.web_url = (web_url or f"{server}/{repository}").rstrip("/")

    def call(self, action: str, operation: Callable[[], T], creates: bool = False) -> T:
        """Run one python-gitlab call under the shared policy; ``creates`` for a request that creates something."""
        return call_with_retries(operation, self._describe, self.policy, "GitLab", action, creates=creates)

    def _parent(self, target: Target):
        if target.kind == "pr":
            return self.project.mergerequests.get(int(target.ref), lazy=True)
        return self.project.issues.get(int(target.ref), lazy=True)

    def _note_url(self, target: Target, note_id: int) -> str:
        section = "merge_requests" if target.kind == "pr" else "issues"
        return f"{self.web_url}/-/{section}/{target.ref}#note_{note_id}"

    def _commit_url(self, sha: str) -> str:
        return f"{self.web_url}/-/commit/{quote(sha)}"

    def comments(self, target: Target) -> list[Comment]:
        """``GET …/notes?sort=asc&order_by=created_at`` or ``GET …/commits/:sha/comments``, every page."""
        if target.kind == "commit":
            commit = self.project.commits.get(target.ref, lazy=True)
            raw = self.call(f"listing comments on {target}", lambda: commit.comments.list(get_all=True, **NO_CLIENT_RETRIES))
            return [Comment(0, c.note, self._commit_url(target.ref), c.author.get("username")) for c in raw]
        notes = self.call(
            f"listing comments on {target}",
            lambda: self._parent(target).notes.list(get_all=True, sort="asc", order_by="created_at",
                                                   **NO_CLIENT_RETRIES),
        )
        return [Comment(n.id, n.body, self._note_url(target, n.id), n.author.get("username"))
                for n in notes if not getattr(n, "system", False)]

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST …/notes`` (``body``) or ``POST …/commits/:sha/comments`` (``note``)."""
        if target.kind == "commit":
            commit = self.project.commits.get(target.ref, lazy=True)
            self.call(f"commenting on {target}", lambda: commit.comments.create({"note": body}, **NO_CLIENT_RETRIES),
                      creates=True)
            return Comment(0, body, self._commit_url(target.ref), self.viewer())
        action = f"commenting on {target}"
        note = proven(self.call(action, lambda: self._parent(target).notes.create({"body": body}, **NO_CLIENT_RETRIES),
                                creates=True), "GitLab", action, "id")
        author = getattr(note, "author", None)
        return Comment(note.id, body, self._note_url(target, note.id),
                       author.get("username") if isinstance(author, dict) else None)

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PUT …/notes/:note_id``."""
        if target.kind == "commit":
            raise ForgeError("GitLab cannot edit commit comments through its API")
        note = self._parent(target).notes.get(comment.id, lazy=True)
        note.body = body
        self.call(f"updating comment {comment.id} on {target}", lambda: note.save(**NO_CLIENT_RETRIES))
        return Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE …/notes/:note_id``."""
        if target.kind == "commit":
            raise ForgeError("GitLab cannot delete commit comments through its API")
        self.call(f"deleting comment {comment.id} on {target}", lambda: self._parent(target).notes.delete(comment.id, **NO_CLIENT_RETRIES))

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /projects/:id/repository/commits/:sha/merge_requests``: open ones, newest first."""
        commit = self.project.commits.get(sha, lazy=True)
        requests = self.call(f"finding merge requests for commit {sha}",
                              lambda: commit.merge_requests(**NO_CLIENT_RETRIES))
        return sorted((int(r["iid"]) for r in requests if r.get("state") == "opened"), reverse=True)

    def viewer(self) -> str | None:
        """``GET /user``: the username of the token's (bot) user."""
        return self._remembered_viewer(lambda: self.call(
            "identifying the token's user", lambda: self._gitlab.http_get("/user", **NO_CLIENT_RETRIES))["username"])

    def publish_check(self, check: Check) -> str:
        """``POST /projects/:id/statuses/:sha``: a commit status named after the check, linking to the report
        (queued: pending, in_progress: running, completed: by conclusion)."""
        state = {"queued": "pending", "in_progress": "running"}.get(check.status) or {
            "success": "success", "neutral": "success", "skipped": "skipped", "cancelled": "canceled"}.get(
            check.conclusion, "failed")
        data = {"state": state, "name": check.title, "description": check.description(255)}
        if check.details_url:
            data["target_url"] = check.details_url
        commit = self.project.commits.get(check.sha, lazy=True)
        self.call("setting the commit status", lambda: commit.statuses.create(data, **NO_CLIENT_RETRIES))
        return check.details_url or self._commit_url(check.sha)

    @staticmethod
    def _merge_request(raw) -> PullRequest:
        return PullRequest(int(raw.iid), raw.web_url, raw.source_branch, raw.target_branch)

    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """``GET /projects/:id/merge_requests?source_branch=…&target_branch=…`` (opened first, else merged)."""
        listed = self.call(f"finding the merge request from {source}", lambda: self.project.mergerequests.list(
            source_branch=source, target_branch=target, get_all=False, **NO_CLIENT_RETRIES))
        found = sorted((r for r in listed if r.state in ("opened", "merged")), key=lambda r: r.state != "opened")
        return self._merge_request(found[0]) if found else None

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /projects/:id/merge_requests``."""
        action = f"opening a merge request from {source} into {target}"
        raw = self.call(action, lambda: self.project.mergerequests.create(
            {"source_branch": source, "target_branch": target, "title": title, "description": body,
             "remove_source_branch": True}, **NO_CLIENT_RETRIES), creates=True)
        return self._merge_request(proven(raw, "GitLab", action, "iid", "web_url"))

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """``PUT /projects/:id/merge_requests/:iid/merge`` with ``merge_when_pipeline_succeeds`` (GitLab's
        auto-merge; ``squash`` for the squash method, the project's merge method otherwise)."""
        request = self.project.mergerequests.get(pull.number, lazy=True)
        self.call(f"setting merge request !{pull.number} to merge when the pipeline succeeds", lambda: request.merge(
            merge_when_pipeline_succeeds=True, squash=method == "squash", **NO_CLIENT_RETRIES))
        return "auto-merge"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """``GET /projects/:id/pipelines/:pipeline_id``; an active pipeline is cancelled first
        (``POST …/pipelines/:pipeline_id/cancel``); then ``POST …/pipelines/:pipeline_id/retry``
        (which retries its failed and canceled jobs). Returns the pipeline's ``web_url``."""
        pipeline = self.call(f"reading pipeline {run_id}",
                             lambda: self.project.pipelines.get(run_id, **NO_CLIENT_RETRIES))
        if pipeline.status in ACTIVE_PIPELINE_STATUSES:
            self.call(f"cancelling pipeline {run_id}", lambda: pipeline.cancel(**NO_CLIENT_RETRIES))
        retried = self.call(f"retrying pipeline {run_id}", lambda: pipeline.retry(**NO_CLIENT_RETRIES), creates=True)
        web_url = retried.get("web_url") if isinstance(retried, dict) else None
        return web_url or getattr(pipeline, "web_url", None) or f"{self.web_url}/-/pipelines/{run_id}"

    # -- runners --------------------------------------------------------------------------------

    def _project_number(self) -> int:
        """The numeric project id (``POST /user/runners`` wants it): ``CI_PROJECT_ID``, else ``GET /projects/:path``."""
        if str(self.project.id).isdigit():
            return int(self.project.id)
        project = self.call("reading the project", lambda: self._gitlab.projects.get(self.repository, **NO_CLIENT_RETRIES))
        self.project = project
        return int(project.id)

    def register_runner(self, name: str, labels: tuple[str, ...], ephemeral: bool,
                        architecture: str = "x86_64") -> RunnerRegistration:
        """``POST /user/runners`` (project runner, locked, tagged with ``labels``, taking only tagged jobs): the
        runner exists from now on and its ``glrt-`` authentication token is what the machine gets."""
        data = {"runner_type": "project_type", "project_id": self._project_number(), "description": name,
                "tag_list": ",".join(labels), "run_untagged": False, "locked": True, "access_level": "not_protected"}
        try:
            created = proven(self.call("creating a runner", lambda: self._gitlab.http_post(
                "/user/runners", post_data=data, **NO_CLIENT_RETRIES), creates=True), "GitLab", "creating a runner",
                "id", "token")
        except ForgePermissionError as error:
            raise ForgePermissionError(f"{error}; creating runners needs a token with the 'create_runner' (or 'api') "
                                       f"scope and the Maintainer role") from None
        register_secret(created["token"])
        return RunnerRegistration(name, self.server_url, {"CML_GITLAB_RUNNER_TOKEN": created["token"]}, int(created["id"]))

    def _runner(self, raw: dict) -> SelfHostedRunner:
        tags = raw.get("tag_list") or []
        return SelfHostedRunner(int(raw["id"]), raw.get("description") or raw.get("name") or "", tuple(tags),
                                raw.get("status") == "online" or raw.get("online") is True)

    def runners(self, name: str | None = None) -> list[SelfHostedRunner]:
        """``GET /projects/:id/runners?type=project_type`` (every page), then ``GET /runners/:id`` for the tags
        and ``GET /runners/:id/jobs?status=running`` for whether it is busy, of the online ones."""
        listed = self.call("listing runners", lambda: self.project.runners.list(
            type="project_type", get_all=True, **NO_CLIENT_RETRIES))
        found = []
        for raw in listed:
            summary = self._runner(raw.asdict())
            if name is not None and summary.name != name:
                continue
            found.append((self.runner(summary.id) or summary) if summary.online else summary)
        return found

    def runner(self, runner_id: int) -> SelfHostedRunner | None:
        """``GET /runners/:id``, and ``GET /runners/:id/jobs?status=running`` when it is online."""
        try:
            raw = self.call(f"reading runner {runner_id}", lambda: self._gitlab.http_get(
                f"/runners/{runner_id}", **NO_CLIENT_RETRIES))
        except ForgeNotFoundError:
            return None
        runner = self._runner(raw)
        if runner.online:
            jobs = self.call(f"reading runner {runner_id}'s jobs", lambda: self._gitlab.http_get(
                f"/runners/{runner_id}/jobs", query_data={"status": "running", "per_page": 1}, **NO_CLIENT_RETRIES))
            runner = SelfHostedRunner(runner.id, runner.name, runner.labels, True, bool(jobs))
        return runner

    def delete_runner(self, runner_id: int) -> None:
        """``DELETE /runners/:id``."""
        try:
            self.call(f"removing runner {runner_id}", lambda: self._gitlab.http_delete(
                f"/runners/{runner_id}", **NO_CLIENT_RETRIES))
        except ForgeNotFoundError:
            pass
