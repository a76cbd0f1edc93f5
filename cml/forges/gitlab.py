"""GitLab.com and self-managed GitLab, through python-gitlab.

The API base comes from ``CI_API_V4_URL`` in GitLab CI (any host, any sub-path).
python-gitlab sends through a :func:`~cml.http.policy_session`, which applies the shared policy and raises the
``Forge*`` errors; python-gitlab's own retries are off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from cml.ci import RepositoryContext, detect, int_or_none
from cml.forges.base import (
    STATUS_DESCRIPTION_LIMIT,
    Check,
    Comment,
    Forge,
    PullRequest,
    RunnerRegistration,
    SelfHostedRunner,
    Target,
)
from cml.forges.errors import (
    FORGE_ERRORS,
    ForgeConfigurationError,
    ForgeError,
    ForgeNotFoundError,
    ForgePermissionError,
    proven,
)
from cml.http import (
    IDEMPOTENT_METHODS,
    HttpFailure,
    HttpPolicy,
    TransportRefusal,
    cut,
    last_answer_method,
    operation,
    outcome_unknown,
    policy_session,
    service_error,
)
from cml.secrets import register_secret

#: Pipeline statuses that must be cancelled before a retry re-runs the pipeline.
ACTIVE_PIPELINE_STATUSES = ("created", "waiting_for_resource", "preparing", "pending", "running")


def gitlab_client(server: str, token: str, policy: HttpPolicy):
    """A python-gitlab client whose every request goes through a :func:`~cml.http.policy_session` bound to
    ``server``, which retries under ``policy`` and raises the ``Forge*`` errors; python-gitlab's own retries
    (transient errors, and 429 by default on every call) are off."""
    import gitlab

    class PolicyGitlab(gitlab.Gitlab):
        def http_request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("obey_rate_limit", False)
            kwargs.setdefault("max_retries", 0)
            return super().http_request(*args, **kwargs)

    session = policy_session(server, policy, service="GitLab", errors=FORGE_ERRORS)
    return PolicyGitlab(server, private_token=token, timeout=policy.timeout, per_page=100,
                        retry_transient_errors=False, user_agent="cml", session=session)


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


class GitLabForge(Forge):
    """Notes on GitLab merge requests and issues, and commit comments.

    Endpoints: ``/projects/:id/merge_requests/:iid/notes[/:note_id]``, ``/projects/:id/issues/:iid/notes[/:note_id]``,
    ``/projects/:id/repository/commits/:sha/comments``, ``/projects/:id/repository/commits/:sha/merge_requests``, ``/user``.
    Commit comments cannot be edited through GitLab's API.
    """

    name = "gitlab"
    label = "GitLab"
    well_known_hosts = ("gitlab.com",)
    default_api_url = "https://gitlab.com/api/v4"
    api_path = "/api/v4"
    api_url_variable = "CI_API_V4_URL"
    token_variable = "GITLAB_TOKEN"
    comment_limit = 1_000_000
    summary_limit = STATUS_DESCRIPTION_LIMIT
    pull_request_term = "Merge Request"
    skip_ci_in_title = True
    check_kind = "commit status"
    publishes_files_to = "project uploads"
    registers_runners = True
    git_username = "oauth2"
    edits_commit_comments = False
    ci_names = ("gitlab",)
    job_token_variable = "CI_JOB_TOKEN"
    job_token_user = "gitlab-ci-token"
    job_token_advice = ("GitLab's CI_JOB_TOKEN cannot post notes; create a project access token with the 'api' scope "
                        "(Reporter role or higher) and expose it to the job as REPO_TOKEN")

    @classmethod
    def from_ci(cls, environ: Mapping[str, str]) -> RepositoryContext | None:
        """GitLab CI: the ``CI_*`` variables; the project is addressed by its id."""
        if detect(environ).name not in cls.ci_names:
            return None
        return RepositoryContext(
            driver=cls.name, api_url=environ.get("CI_API_V4_URL") or cls.default_api_url,
            repository=environ.get("CI_PROJECT_PATH"), project_id=environ.get("CI_PROJECT_ID"),
            sha=environ.get("CI_COMMIT_SHA"), pull_request=int_or_none(environ.get("CI_MERGE_REQUEST_IID")),
            server_url=environ.get("CI_SERVER_URL"), run_id=environ.get("CI_JOB_ID"),
            workflow=environ.get("CI_PIPELINE_ID"), ci=cls.name,
        )

    @classmethod
    def rerun_target(cls, context: RepositoryContext) -> str | None:
        """The pipeline (``CI_PIPELINE_ID``), not the job."""
        return context.workflow

    @classmethod
    def probe_api(cls, scheme: str, host: str, path: str,
                  environ: Mapping[str, str]) -> tuple[str, str, str] | None:
        """A group's project (``group/…/project``) may be on a GitLab under a sub-path: see :func:`probe_gitlab_api`."""
        return probe_gitlab_api(scheme, host, path, environ) if path.count("/") >= 2 else None

    @classmethod
    def open(cls, context: RepositoryContext, token: str, policy: HttpPolicy,
             environ: Mapping[str, str]) -> GitLabForge:
        """The adapter, addressing the CI's project by its id (and linking to ``CI_PROJECT_URL``) when it has one."""
        return cls(context.api_url or "", context.repository or "", token, policy, project_id=context.project_id,
                   web_url=environ.get("CI_PROJECT_URL") if context.project_id else None)

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None,
                 project_id: str | None = None, web_url: str | None = None):
        super().__init__(api_url, repository, token, policy)
        register_secret(token)
        server = self.api_url[: -len("/api/v4")] if self.api_url.endswith("/api/v4") else self.api_url
        self._gitlab = gitlab_client(server, token, self.policy)
        self.project = self._gitlab.projects.get(project_id or repository, lazy=True)
        self.server_url = server
        self.web_url = (web_url or f"{server}/{repository}").rstrip("/")

    @contextlib.contextmanager
    def _doing(self, action: str, repeatable: bool = False) -> Iterator[None]:
        """Names the requests of ``action`` for the session's errors (``repeatable``: its POSTs may be sent again);
        the one place python-gitlab's own exceptions, raised after an answer came, become forge errors."""
        from gitlab.exceptions import GitlabError, GitlabParsingError, RedirectError

        with operation(action, repeatable):
            try:
                yield
            except RedirectError:
                failure = HttpFailure(301, {}, "the server redirected a write request; check CI_API_V4_URL")
                raise service_error(failure, "GitLab", action, retried=False, errors=FORGE_ERRORS) from None
            except GitlabParsingError:
                failure = HttpFailure(None, {}, "the answer was not the JSON GitLab sends")
                if not repeatable and last_answer_method() not in IDEMPOTENT_METHODS:
                    raise outcome_unknown(failure, "GitLab", action, retried=False, errors=FORGE_ERRORS) from None
                raise service_error(failure, "GitLab", action, retried=False, errors=FORGE_ERRORS) from None
            except GitlabError as error:
                failure = HttpFailure(error.response_code, {}, cut(error.error_message or "error"))
                raise service_error(failure, "GitLab", action, retried=False, errors=FORGE_ERRORS) from None

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
        with self._doing(f"listing comments on {target}"):
            if target.kind == "commit":
                raw = self.project.commits.get(target.ref, lazy=True).comments.list(get_all=True)
                return [Comment(0, c.note, self._commit_url(target.ref), c.author.get("username")) for c in raw]
            notes = self._parent(target).notes.list(get_all=True, sort="asc", order_by="created_at")
        return [Comment(n.id, n.body, self._note_url(target, n.id), n.author.get("username"))
                for n in notes if not getattr(n, "system", False)]

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST …/notes`` (``body``) or ``POST …/commits/:sha/comments`` (``note``)."""
        action = f"commenting on {target}"
        if target.kind == "commit":
            with self._doing(action):
                self.project.commits.get(target.ref, lazy=True).comments.create({"note": body})
            return Comment(0, body, self._commit_url(target.ref), self.viewer())
        with self._doing(action):
            created = self._parent(target).notes.create({"body": body})
        note = proven(created, "GitLab", action, "id")
        author = getattr(note, "author", None)
        return Comment(note.id, body, self._note_url(target, note.id),
                       author.get("username") if isinstance(author, dict) else None)

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PUT …/notes/:note_id``."""
        if target.kind == "commit":
            raise ForgeError("GitLab cannot edit commit comments through its API")
        note = self._parent(target).notes.get(comment.id, lazy=True)
        note.body = body
        with self._doing(f"updating comment {comment.id} on {target}"):
            note.save()
        return Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE …/notes/:note_id``."""
        if target.kind == "commit":
            raise ForgeError("GitLab cannot delete commit comments through its API")
        with self._doing(f"deleting comment {comment.id} on {target}"):
            self._parent(target).notes.delete(comment.id)

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /projects/:id/repository/commits/:sha/merge_requests``: open ones, newest first."""
        with self._doing(f"finding merge requests for commit {sha}"):
            requests = self.project.commits.get(sha, lazy=True).merge_requests()
        return sorted((int(r["iid"]) for r in requests if r.get("state") == "opened"), reverse=True)

    def viewer(self) -> str | None:
        """``GET /user``: the username of the token's (bot) user."""

        def username() -> str | None:
            with self._doing("identifying the token's user"):
                return self._gitlab.http_get("/user")["username"]

        return self._remembered_viewer(username)

    def publish_check(self, check: Check) -> str:
        """``POST /projects/:id/statuses/:sha``: a commit status named after the check, linking to the report
        (queued: pending, in_progress: running, completed: by conclusion)."""
        state = {"queued": "pending", "in_progress": "running"}.get(check.status) or {
            "success": "success", "neutral": "success", "skipped": "skipped", "cancelled": "canceled"}.get(
            check.conclusion, "failed")
        data = {"state": state, "name": check.title, "description": check.description(255)}
        if check.details_url:
            data["target_url"] = check.details_url
        # Setting the same status again leaves one status: the POST may be repeated.
        with self._doing("setting the commit status", repeatable=True):
            self.project.commits.get(check.sha, lazy=True).statuses.create(data)
        return check.details_url or self._commit_url(check.sha)

    @staticmethod
    def _merge_request(raw) -> PullRequest:
        return PullRequest(int(raw.iid), raw.web_url, raw.source_branch, raw.target_branch)

    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """``GET /projects/:id/merge_requests?source_branch=…&target_branch=…`` (opened first, else merged)."""
        with self._doing(f"finding the merge request from {source}"):
            listed = self.project.mergerequests.list(source_branch=source, target_branch=target, get_all=False)
        found = sorted((r for r in listed if r.state in ("opened", "merged")), key=lambda r: r.state != "opened")
        return self._merge_request(found[0]) if found else None

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /projects/:id/merge_requests``."""
        action = f"opening a merge request from {source} into {target}"
        with self._doing(action):
            raw = self.project.mergerequests.create({"source_branch": source, "target_branch": target, "title": title,
                                                     "description": body, "remove_source_branch": True})
        return self._merge_request(proven(raw, "GitLab", action, "iid", "web_url"))

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """``PUT /projects/:id/merge_requests/:iid/merge`` with ``merge_when_pipeline_succeeds`` (GitLab's
        auto-merge; ``squash`` for the squash method, the project's merge method otherwise)."""
        with self._doing(f"setting merge request !{pull.number} to merge when the pipeline succeeds"):
            self.project.mergerequests.get(pull.number, lazy=True).merge(
                merge_when_pipeline_succeeds=True, squash=method == "squash")
        return "auto-merge"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """``GET /projects/:id/pipelines/:pipeline_id``; an active pipeline is cancelled first
        (``POST …/pipelines/:pipeline_id/cancel``); then ``POST …/pipelines/:pipeline_id/retry``
        (which retries its failed and canceled jobs). Returns the pipeline's ``web_url``."""
        with self._doing(f"reading pipeline {run_id}"):
            pipeline = self.project.pipelines.get(run_id)
        if pipeline.status in ACTIVE_PIPELINE_STATUSES:
            with self._doing(f"cancelling pipeline {run_id}", repeatable=True):
                pipeline.cancel()
        with self._doing(f"retrying pipeline {run_id}"):
            retried = pipeline.retry()
        web_url = retried.get("web_url") if isinstance(retried, dict) else None
        return web_url or getattr(pipeline, "web_url", None) or f"{self.web_url}/-/pipelines/{run_id}"

    # -- files -------------------------------------------------------------------------------------

    def upload_file(self, name: str, data: bytes, mime_type: str, action: str) -> str:
        """``POST /projects/:id/uploads`` (multipart ``file``): the project-relative ``/uploads/<secret>/<name>`` URL
        GitLab answers. Not python-gitlab's ``project.upload()``, which sends no content type for the file."""
        # An upload that is sent again is stored again under another secret: harmless, so it may be repeated.
        with self._doing(action, repeatable=True):
            uploaded = self._gitlab.http_post(f"/projects/{self.project.encoded_id}/uploads",
                                              files={"file": (name, data, mime_type)})
        return uploaded["url"]

    # -- runners --------------------------------------------------------------------------------

    def _project_number(self) -> int:
        """The numeric project id (``POST /user/runners`` wants it): ``CI_PROJECT_ID``, else ``GET /projects/:path``."""
        if str(self.project.id).isdigit():
            return int(self.project.id)
        with self._doing("reading the project"):
            project = self._gitlab.projects.get(self.repository)
        self.project = project
        return int(project.id)

    def register_runner(self, name: str, labels: tuple[str, ...], ephemeral: bool,
                        architecture: str = "x86_64") -> RunnerRegistration:
        """``POST /user/runners`` (project runner, locked, tagged with ``labels``, taking only tagged jobs): the
        runner exists from now on and its ``glrt-`` authentication token is what the machine gets."""
        data = {"runner_type": "project_type", "project_id": self._project_number(), "description": name,
                "tag_list": ",".join(labels), "run_untagged": False, "locked": True, "access_level": "not_protected"}
        try:
            with self._doing("creating a runner"):
                answer = self._gitlab.http_post("/user/runners", post_data=data)
            created = proven(answer, "GitLab", "creating a runner", "id", "token")
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
        with self._doing("listing runners"):
            listed = self.project.runners.list(type="project_type", get_all=True)
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
            with self._doing(f"reading runner {runner_id}"):
                raw = self._gitlab.http_get(f"/runners/{runner_id}")
        except ForgeNotFoundError:
            return None
        runner = self._runner(raw)
        if runner.online:
            try:
                with self._doing(f"reading runner {runner_id}'s jobs"):
                    jobs = self._gitlab.http_get(f"/runners/{runner_id}/jobs",
                                                 query_data={"status": "running", "per_page": 1})
            except ForgeNotFoundError:  # it unregistered itself (its machine ended) between the two requests
                return None
            runner = SelfHostedRunner(runner.id, runner.name, runner.labels, True, bool(jobs))
        return runner

    def delete_runner(self, runner_id: int) -> None:
        """``DELETE /runners/:id``."""
        with contextlib.suppress(ForgeNotFoundError), self._doing(f"removing runner {runner_id}"):
            self._gitlab.http_delete(f"/runners/{runner_id}")
