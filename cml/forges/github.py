"""GitHub and GitHub Enterprise, through PyGithub.

The API base comes from ``GITHUB_API_URL`` in Actions (``https://api.github.com``,
or ``https://HOST/api/v3`` on Enterprise Server). PyGithub's own retries are off:
:mod:`cml.http` applies the one policy every forge shares.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from cml.ci import RepositoryContext, actions_context, detect
from cml.errors import ServiceError
from cml.forges.base import Check, Comment, Forge, PullRequest, RunnerRegistration, SelfHostedRunner, Target
from cml.forges.errors import (
    FORGE_ERRORS,
    ForgeError,
    ForgeNotFoundError,
    ForgePermissionError,
    ForgeRequestError,
    proven,
)
from cml.http import HttpFailure, HttpPolicy, create_once, cut, operation, policy_session, service_error
from cml.secrets import register_secret

CHECK_SUMMARY_LIMIT = 65_535


def github_client(api_url: str, token: str, policy: HttpPolicy):
    """A PyGithub client whose every request goes through a :func:`~cml.http.policy_session` bound to
    ``api_url``, which retries under ``policy`` and raises the ``Forge*`` errors (PyGithub's own retries and
    throttling off)."""
    from github import Auth, Github
    from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

    def under_policy(connection_class: Any) -> Any:
        base: Any = connection_class

        class PolicyConnection(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.session = policy_session(api_url, policy, service="GitHub", errors=FORGE_ERRORS)
                self.session.auth = Requester.noopAuth  # no .netrc fallback, as PyGithub does

        return PolicyConnection

    # PyGithub's documented hook for connection classes is class-wide: set it only while this client is built.
    Requester.injectConnectionClasses(under_policy(HTTPRequestsConnectionClass), under_policy(HTTPSRequestsConnectionClass))
    try:
        return Github(base_url=api_url, auth=Auth.Token(token), per_page=100, timeout=int(max(1, policy.timeout)),
                      retry=None, lazy=True, user_agent="cml", seconds_between_requests=None,
                      seconds_between_writes=None)
    finally:
        Requester.resetConnectionClasses()


def library_error(error: BaseException, action: str) -> ServiceError:
    """A PyGithub exception that no HTTP failure raised (GraphQL errors come in 200 answers) as a forge error."""
    data = getattr(error, "data", None)
    data = data if isinstance(data, dict) else {}
    message = cut(data.get("message") or getattr(error, "message", None) or "error")
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        details = [e.get("message") or e.get("code") for e in errors if isinstance(e, dict)]
        message = cut(message + ": " + "; ".join(str(d) for d in details if d))
    failure = HttpFailure(getattr(error, "status", None), dict(getattr(error, "headers", None) or {}), message)
    return service_error(failure, "GitHub", action, retried=False, errors=FORGE_ERRORS)


@dataclass(frozen=True)
class BranchTip:
    """The head of a branch: its commit, that commit's tree, and the paths of the tree's top level."""

    commit_sha: str
    tree_sha: str
    paths: frozenset[str]


class GitHubForge(Forge):
    """Comments on GitHub pull requests, issues and commits; check runs.

    Endpoints: ``/repos/{owner}/{repo}/issues/{number}/comments``,
    ``/repos/{owner}/{repo}/issues/comments/{id}``, ``/repos/{owner}/{repo}/commits/{sha}/comments``,
    ``/repos/{owner}/{repo}/comments/{id}``, ``/repos/{owner}/{repo}/commits/{sha}/pulls``.
    """

    name = "github"
    label = "GitHub"
    well_known_hosts = ("github.com",)
    default_api_url = "https://api.github.com"
    api_path = "/api/v3"
    api_url_variable = "GITHUB_API_URL"
    token_variable = "GITHUB_TOKEN"
    comment_limit = 65_536
    summary_limit = CHECK_SUMMARY_LIMIT
    check_kind = "check run"
    check_shows_report = True
    publishes_files_to = "a branch of the repository"
    registers_runners = True
    ci_names = ("github",)
    checkout_stores_token_header = True

    @classmethod
    def from_ci(cls, environ: Mapping[str, str]) -> RepositoryContext | None:
        """GitHub Actions: the ``GITHUB_*`` variables and the event file."""
        return actions_context(environ, cls.name) if detect(environ).name in cls.ci_names else None

    @classmethod
    def run_url(cls, context: RepositoryContext) -> str | None:
        """The Actions run page, ``{server}/{owner}/{repo}/actions/runs/{run_id}`` (its job summary is there)."""
        if not (context.server_url and context.run_id and context.repository):
            return None
        return f"{context.server_url}/{context.repository}/actions/runs/{context.run_id}"

    @classmethod
    def open(cls, context: RepositoryContext, token: str, policy: HttpPolicy,
             environ: Mapping[str, str]) -> GitHubForge:
        """The adapter, with links to the CI's server (GitHub Enterprise's web address is not the API's)."""
        return cls(context.api_url or "", context.repository or "", token, policy, web_url=context.server_url)

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None,
                 web_url: str | None = None):
        super().__init__(api_url, repository, token, policy)
        register_secret(token)
        self._github = github_client(self.api_url, token, self.policy)
        self.repo = self._github.get_repo(repository)
        self._pulls: dict[int, Any] = {}
        self.web_url = (web_url or self._default_web_url()).rstrip("/")

    def _default_web_url(self) -> str:
        if self.api_url == "https://api.github.com":
            return "https://github.com"
        return self.api_url[: -len("/api/v3")] if self.api_url.endswith("/api/v3") else self.api_url

    @contextlib.contextmanager
    def _doing(self, action: str, repeatable: bool = False) -> Iterator[None]:
        """Names the requests of ``action`` for the session's errors (``repeatable``: its POSTs may be sent again);
        the one place PyGithub's own exceptions, raised without an HTTP failure, become forge errors."""
        from github import GithubException

        with operation(action, repeatable):
            try:
                yield
            except GithubException as error:
                raise library_error(error, action) from None

    @staticmethod
    def _comment(raw) -> Comment:
        user = getattr(raw, "user", None)
        return Comment(id=raw.id, body=raw.body or "", url=raw.html_url, author=getattr(user, "login", None))

    def comments(self, target: Target) -> list[Comment]:
        """``GET /repos/{owner}/{repo}/issues/{n}/comments`` or ``…/commits/{sha}/comments``, 100 per page."""
        with self._doing(f"listing comments on {target}"):
            if target.kind == "commit":
                listing = self.repo.get_commit(target.ref).get_comments()
            else:
                listing = self.repo.get_issue(int(target.ref)).get_comments()
            return [self._comment(c) for c in listing]

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST /repos/{owner}/{repo}/issues/{n}/comments`` or ``…/commits/{sha}/comments``."""
        action = f"commenting on {target}"
        with self._doing(action):
            if target.kind == "commit":
                created = self.repo.get_commit(target.ref).create_comment(body)
            else:
                created = self.repo.get_issue(int(target.ref)).create_comment(body)
        return self._comment(proven(created, "GitHub", action, "id", "html_url"))

    def _lazy_comment(self, target: Target, comment: Comment):
        if target.kind == "commit":
            return self.repo.get_comment(comment.id)
        return self.repo.get_issue(int(target.ref)).get_comment(comment.id)

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PATCH /repos/{owner}/{repo}/issues/comments/{id}`` or ``…/comments/{id}`` (commit comments)."""
        with self._doing(f"updating comment {comment.id} on {target}"):
            self._lazy_comment(target, comment).edit(body)
        return Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE /repos/{owner}/{repo}/issues/comments/{id}`` or ``…/comments/{id}``."""
        with self._doing(f"deleting comment {comment.id} on {target}"):
            self._lazy_comment(target, comment).delete()

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /repos/{owner}/{repo}/commits/{sha}/pulls``: open pull requests first, newest first."""
        with self._doing(f"finding pull requests for commit {sha}"):
            pulls = [(p.state, p.number) for p in self.repo.get_commit(sha).get_pulls()]
        return [number for state, number in sorted(pulls, key=lambda p: (p[0] != "open", -p[1])) if state == "open"]

    def viewer(self) -> str | None:
        """GraphQL ``{ viewer { login } }``: it answers for personal tokens and for installation tokens alike
        (``github-actions[bot]``, ``my-app[bot]``), where ``GET /user`` refuses the latter."""

        def login() -> str | None:
            with self._doing("identifying the token's user", repeatable=True):
                _, answer = self._github.requester.graphql_query("query { viewer { login } }", {})
            value = ((answer or {}).get("data") or {}).get("viewer") or {}
            return value.get("login") if isinstance(value.get("login"), str) else None

        return self._remembered_viewer(login)

    def publish_check(self, check: Check) -> str:
        """``POST /repos/{owner}/{repo}/check-runs`` (the report as the summary: :func:`cml.create_check` cuts it to :attr:`summary_limit`) with the check's status, and its
        conclusion only when completed; when its answer is lost,
        ``GET /repos/{owner}/{repo}/commits/{sha}/check-runs?check_name=…`` finds the run by its ``external_id``.
        A run of the same name that cml left queued or in progress on the commit is updated instead
        (``PATCH /repos/{owner}/{repo}/check-runs/{id}``), so ``--status in_progress`` then ``completed`` is one run."""
        output = {"title": check.title, "summary": check.report}
        extra = {"details_url": check.details_url} if check.details_url else {}
        if check.status == "completed":  # GitHub completes any run given a conclusion
            extra["conclusion"] = check.conclusion
        external_id = f"cml-{secrets.token_hex(8)}"  # finds this run again if the answer is lost
        action = "creating a check run"

        def create():
            with self._doing(action):
                created = self.repo.create_check_run(name=check.title, head_sha=check.sha, status=check.status,
                                                     output=output, external_id=external_id, **extra)
            return proven(created, "GitHub", action, "id", "html_url")

        def runs() -> list[dict]:
            answer = self._request("looking for the check run", "GET",
                                   f"/repos/{self.repository}/commits/{check.sha}/check-runs",
                                   query={"check_name": check.title, "filter": "all", "per_page": 100})
            return [run for run in answer.get("check_runs", []) if isinstance(run, dict)]

        def find():
            found = next((run for run in runs() if run.get("external_id") == external_id), None)
            return SimpleNamespace(**found) if found else None

        try:
            unfinished = [run for run in runs() if str(run.get("external_id") or "").startswith("cml-")
                          and run.get("status") != "completed" and isinstance(run.get("id"), int)]
            if unfinished:
                earlier = max(unfinished, key=lambda run: run["id"])
                updated = self._request("updating the check run", "PATCH",
                                        f"/repos/{self.repository}/check-runs/{earlier['id']}",
                                        body={"status": check.status, "output": output, **extra})
                return (updated or {}).get("html_url") or earlier.get("html_url", "")
            run = create_once(create, find, self.policy)
        except ForgePermissionError as error:
            raise ForgePermissionError(
                f"{error}; check runs need the Actions GITHUB_TOKEN (with 'checks: write') "
                f"or a GitHub App token, personal access tokens are refused"
            ) from None
        return run.html_url

    def _pull(self, raw) -> PullRequest:
        return PullRequest(raw.number, raw.html_url, raw.head.ref, raw.base.ref)

    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """``GET /repos/{owner}/{repo}/pulls?state=all&head=OWNER:SOURCE&base=TARGET``."""
        owner = self.repository.split("/")[0]
        with self._doing(f"finding the pull request from {source}"):
            pulls = sorted((p for p in self.repo.get_pulls(state="all", head=f"{owner}:{source}", base=target)
                            if p.state == "open" or p.merged), key=lambda p: p.state != "open")
        if not pulls:
            return None
        self._pulls[pulls[0].number] = pulls[0]
        return self._pull(pulls[0])

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /repos/{owner}/{repo}/pulls``."""
        action = f"opening a pull request from {source} into {target}"
        with self._doing(action):
            created = self.repo.create_pull(base=target, head=source, title=title, body=body)
        raw = proven(created, "GitHub", action, "id", "html_url")
        self._pulls[raw.number] = raw
        return self._pull(raw)

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """GraphQL ``enablePullRequestAutoMerge``; where GitHub refuses auto-merge (not enabled for the
        repository, or nothing left to wait for), ``PUT /repos/{owner}/{repo}/pulls/{n}/merge``."""
        raw = self._pulls.get(pull.number)
        if raw is None:
            with self._doing("reading the pull request"):
                raw = self.repo.get_pull(pull.number)
        try:
            with self._doing("enabling auto-merge", repeatable=True):
                raw.enable_automerge(merge_method=method.upper())
            return "auto-merge"
        except ForgeRequestError:
            with self._doing(f"merging pull request #{pull.number}"):
                raw.merge(merge_method=method)
            return "merged"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """``GET /repos/{owner}/{repo}/actions/runs/{run_id}``; a run that has not completed is cancelled
        (``POST …/actions/runs/{run_id}/cancel``) and polled with ``GET`` until it has; then
        ``POST …/actions/runs/{run_id}/rerun``. Returns the run's ``html_url``.

        The POSTs go through the requester rather than ``WorkflowRun.cancel()``/``rerun()``, which
        return ``False`` on any error instead of raising it.
        """
        if not str(run_id).strip().isdigit():
            raise ForgeRequestError(f"GitHub: '{run_id}' is not a workflow run id (a number, like GITHUB_RUN_ID)")
        number = int(run_id)

        def fetch():
            with self._doing(f"reading workflow run {number}"):
                return self.repo.get_workflow_run(number).complete()

        def post(url: str, action: str) -> None:
            with self._doing(action, repeatable=True):
                self._github.requester.requestJsonAndCheck("POST", url)

        run = fetch()
        if run.status != "completed":
            try:
                post(run.cancel_url, f"cancelling workflow run {number}")
            except ForgeRequestError:  # 409: it completed in the meantime
                run = fetch()
                if run.status != "completed":
                    raise
            deadline = time.monotonic() + timeout
            while run.status != "completed":
                if time.monotonic() >= deadline:
                    raise ForgeError(f"GitHub: workflow run {number} is still '{run.status}' {timeout:g} s after "
                                     f"cancelling it; re-run it once it has stopped")
                time.sleep(poll_interval)
                run = fetch()
        try:
            post(run.rerun_url, f"re-running workflow run {number}")
        except ForgePermissionError as error:
            raise ForgePermissionError(f"{error}; re-running needs a token with 'actions: write'") from None
        return run.html_url

    # -- files on a branch (what the branch publisher stores) ----------------------------------

    def branch_tip(self, branch: str) -> BranchTip | None:
        """``GET /repos/{owner}/{repo}/git/ref/heads/{branch}``, ``GET …/git/commits/{sha}`` and
        ``GET …/git/trees/{tree_sha}``: the branch's head, or ``None`` when the branch does not exist."""
        repository = f"/repos/{self.repository}/git"
        try:
            ref = self._request(f"reading branch {branch}", "GET", f"{repository}/ref/heads/{quote(branch)}")
        except ForgeNotFoundError:
            return None
        head_sha = ref["object"]["sha"]
        commit = self._request(f"reading the head of {branch}", "GET", f"{repository}/commits/{head_sha}")
        tree_sha = commit["tree"]["sha"]
        tree = self._request(f"listing {branch}", "GET", f"{repository}/trees/{tree_sha}")
        return BranchTip(head_sha, tree_sha, frozenset(entry["path"] for entry in tree.get("tree", [])))

    def create_blob(self, data: bytes, action: str) -> str:
        """``POST /repos/{owner}/{repo}/git/blobs`` (base64): the blob's sha. Blobs are addressed by their content,
        so sending one again is harmless."""
        content = base64.b64encode(data).decode("ascii")
        return self._request(action, "POST", f"/repos/{self.repository}/git/blobs",
                             {"content": content, "encoding": "base64"})["sha"]

    def commit_files(self, branch: str, blobs: Mapping[str, str], message: str, tip: BranchTip | None) -> str:
        """One commit adding ``blobs`` (path: blob sha) on top of ``tip``: ``POST …/git/trees`` (on the tip's tree),
        ``POST …/git/commits`` (its parent the tip), then ``PATCH …/git/refs/heads/{branch}`` with ``force: false``
        (a fast-forward only), or ``POST …/git/refs`` when the branch does not exist. Returns the commit's sha;
        :class:`ForgeRequestError` when another job moved or created the branch first."""
        repository = f"/repos/{self.repository}/git"
        elements = [{"path": path, "mode": "100644", "type": "blob", "sha": sha} for path, sha in blobs.items()]
        tree = self._request("writing the tree", "POST", f"{repository}/trees",
                             {"tree": elements, **({"base_tree": tip.tree_sha} if tip else {})})
        commit = self._request("writing the commit", "POST", f"{repository}/commits",
                               {"message": message, "tree": tree["sha"], "parents": [tip.commit_sha] if tip else []})
        if tip is None:
            self._request(f"creating branch {branch}", "POST", f"{repository}/refs",
                          {"ref": f"refs/heads/{branch}", "sha": commit["sha"]})
        else:
            self._request(f"updating branch {branch}", "PATCH", f"{repository}/refs/heads/{quote(branch)}",
                          {"sha": commit["sha"], "force": False})
        return commit["sha"]

    # -- self-hosted runners ------------------------------------------------------------------

    @property
    def _runners_path(self) -> str:
        """Runners belong to the repository, or to the organisation when ``--repo`` names only one."""
        if "/" in self.repository:
            return f"/repos/{self.repository}/actions/runners"
        return f"/orgs/{self.repository}/actions/runners"

    def _request(self, action: str, method: str, path: str, body: dict | None = None, query: dict | None = None,
                 creates: bool = False):
        """One REST request through PyGithub's requester; a POST without ``creates`` may be sent again."""
        with self._doing(action, repeatable=not creates):
            return self._github.requester.requestJsonAndCheck(method, path, parameters=query, input=body)[1]

    def register_runner(self, name: str, labels: tuple[str, ...], ephemeral: bool,
                        architecture: str = "x86_64") -> RunnerRegistration:
        """Ephemeral: ``POST …/actions/runners/generate-jitconfig`` (the runner exists from now on, with the
        default labels spelled out as GitHub requires); otherwise ``POST …/actions/runners/registration-token``.
        Both also get ``POST …/actions/runners/remove-token`` so the machine can unregister itself.
        ``…`` is ``/repos/{owner}/{repo}`` or ``/orgs/{org}``."""
        url = f"{self.web_url}/{self.repository}"
        variables = {}
        runner_id = None
        try:
            if ephemeral:
                system = ["self-hosted", "Linux", "ARM64" if architecture == "arm64" else "X64"]
                answer = self._request("creating a just-in-time runner configuration", "POST",
                                       f"{self._runners_path}/generate-jitconfig",
                                       {"name": name, "runner_group_id": 1, "labels": system + list(labels),
                                        "work_folder": "_work"}, creates=True)
                runner_id = int(answer["runner"]["id"])
                variables["CML_GITHUB_JITCONFIG"] = answer["encoded_jit_config"]
            else:
                answer = self._request("creating a runner registration token", "POST",
                                       f"{self._runners_path}/registration-token")
                variables["CML_GITHUB_REGISTRATION_TOKEN"] = answer["token"]
            removal = self._request("creating a runner removal token", "POST", f"{self._runners_path}/remove-token")
        except BaseException as error:
            if runner_id is not None:
                self.delete_runner(runner_id)
            if isinstance(error, ForgePermissionError):
                raise ForgePermissionError(f"{error}; registering runners needs a token with the repository's "
                                           f"'administration: write' permission (classic: 'repo' scope; "
                                           f"organisation runners: 'admin:org'), not the Actions GITHUB_TOKEN") from None
            raise
        variables["CML_GITHUB_REMOVAL_TOKEN"] = removal["token"]
        for value in variables.values():
            register_secret(value)
        return RunnerRegistration(name, url, variables, runner_id)

    @staticmethod
    def _runner(raw: dict) -> SelfHostedRunner:
        return SelfHostedRunner(int(raw["id"]), raw["name"], tuple(label["name"] for label in raw.get("labels", [])),
                                raw.get("status") == "online", bool(raw.get("busy")))

    def runners(self, name: str | None = None) -> list[SelfHostedRunner]:
        """``GET …/actions/runners?per_page=100[&name=NAME]``, every page."""
        found: list[SelfHostedRunner] = []
        page = 1
        while True:
            query = {"per_page": 100, "page": page, **({"name": name} if name else {})}
            answer = self._request("listing self-hosted runners", "GET", self._runners_path, query=query)
            batch = answer.get("runners", [])
            found.extend(self._runner(raw) for raw in batch)
            if len(batch) < 100 or len(found) >= int(answer.get("total_count", 0)):
                return [r for r in found if name is None or r.name == name]
            page += 1

    def runner(self, runner_id: int) -> SelfHostedRunner | None:
        """``GET …/actions/runners/{runner_id}``."""
        try:
            return self._runner(self._request(f"reading runner {runner_id}", "GET", f"{self._runners_path}/{runner_id}"))
        except ForgeNotFoundError:
            return None

    def delete_runner(self, runner_id: int) -> None:
        """``DELETE …/actions/runners/{runner_id}``; GitHub refuses (422) while the runner runs a job."""
        with contextlib.suppress(ForgeNotFoundError):
            self._request(f"removing runner {runner_id}", "DELETE", f"{self._runners_path}/{runner_id}")
