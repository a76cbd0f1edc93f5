"""GitHub and GitHub Enterprise, through PyGithub.

The API base comes from ``GITHUB_API_URL`` in Actions (``https://api.github.com``,
or ``https://HOST/api/v3`` on Enterprise Server). PyGithub's own retries are off:
:mod:`cml.http` applies the one policy every forge shares.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable, TypeVar

from cml.forges.base import Check, Comment, Forge, PullRequest, RunnerRegistration, SelfHostedRunner, Target
from cml.forges.errors import ForgeNotFoundError, ForgePermissionError, ForgeRequestError
from cml.http import HttpFailure, HttpPolicy, call_with_retries, create_once, cut, policy_session, proven
from cml.secrets import register_secret

T = TypeVar("T")
CHECK_SUMMARY_LIMIT = 65_535


def github_client(api_url: str, token: str, policy: HttpPolicy):
    """A PyGithub client whose every request goes through a :func:`~cml.http.policy_session` bound to
    ``api_url`` (PyGithub's own retries and throttling off: the shared policy applies)."""
    from github import Auth, Github
    from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass, Requester

    def under_policy(connection_class):
        class PolicyConnection(connection_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.session = policy_session(api_url, policy)
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


def describe_failure(error: BaseException) -> HttpFailure | None:
    """PyGithub and requests exceptions as an :class:`HttpFailure`."""
    from github import GithubException

    from cml.http import describe_requests_failure

    if isinstance(error, GithubException):
        data = error.data if isinstance(error.data, dict) else {}
        message = cut(data.get("message") or error.message or "error")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [e.get("message") or e.get("code") for e in errors if isinstance(e, dict)]
            message = cut(message + ": " + "; ".join(str(d) for d in details if d))
        return HttpFailure(error.status, dict(error.headers or {}), message)
    return describe_requests_failure(error)


class GitHubForge(Forge):
    """Comments on GitHub pull requests, issues and commits; check runs.

    Endpoints: ``/repos/{owner}/{repo}/issues/{number}/comments``,
    ``/repos/{owner}/{repo}/issues/comments/{id}``, ``/repos/{owner}/{repo}/commits/{sha}/comments``,
    ``/repos/{owner}/{repo}/comments/{id}``, ``/repos/{owner}/{repo}/commits/{sha}/pulls``.
    """

    name = "github"
    label = "GitHub"
    api_url_variable = "GITHUB_API_URL"
    comment_limit = 65_536
    check_shows_report = True

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None,
                 web_url: str | None = None):
        super().__init__(api_url, repository, token, policy)
        register_secret(token)
        self._github = github_client(self.api_url, token, self.policy)
        self.repo = self._github.get_repo(repository)
        self._pulls: dict[int, object] = {}
        self.web_url = (web_url or self._default_web_url()).rstrip("/")

    def _default_web_url(self) -> str:
        if self.api_url == "https://api.github.com":
            return "https://github.com"
        return self.api_url[: -len("/api/v3")] if self.api_url.endswith("/api/v3") else self.api_url

    def call(self, action: str, operation: Callable[[], T], creates: bool = False) -> T:
        """Run one PyGithub call under the shared policy; ``creates`` for a request that creates something."""
        return call_with_retries(operation, describe_failure, self.policy, "GitHub", action, creates=creates)

    @staticmethod
    def _comment(raw) -> Comment:
        user = getattr(raw, "user", None)
        return Comment(id=raw.id, body=raw.body or "", url=raw.html_url, author=getattr(user, "login", None))

    def comments(self, target: Target) -> list[Comment]:
        """``GET /repos/{owner}/{repo}/issues/{n}/comments`` or ``…/commits/{sha}/comments``, 100 per page."""
        if target.kind == "commit":
            listing = lambda: self.repo.get_commit(target.ref).get_comments()  # noqa: E731
        else:
            listing = lambda: self.repo.get_issue(int(target.ref)).get_comments()  # noqa: E731
        return self.call(f"listing comments on {target}", lambda: [self._comment(c) for c in listing()])

    def create_comment(self, target: Target, body: str) -> Comment:
        """``POST /repos/{owner}/{repo}/issues/{n}/comments`` or ``…/commits/{sha}/comments``."""
        if target.kind == "commit":
            create = lambda: self.repo.get_commit(target.ref).create_comment(body)  # noqa: E731
        else:
            create = lambda: self.repo.get_issue(int(target.ref)).create_comment(body)  # noqa: E731
        action = f"commenting on {target}"
        return self._comment(proven(self.call(action, create, creates=True), "GitHub", action, "id", "html_url"))

    def _lazy_comment(self, target: Target, comment: Comment):
        if target.kind == "commit":
            return self.repo.get_comment(comment.id)
        return self.repo.get_issue(int(target.ref)).get_comment(comment.id)

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """``PATCH /repos/{owner}/{repo}/issues/comments/{id}`` or ``…/comments/{id}`` (commit comments)."""
        raw = self._lazy_comment(target, comment)
        self.call(f"updating comment {comment.id} on {target}", lambda: raw.edit(body))
        return Comment(comment.id, body, comment.url, comment.author)

    def delete_comment(self, target: Target, comment: Comment) -> None:
        """``DELETE /repos/{owner}/{repo}/issues/comments/{id}`` or ``…/comments/{id}``."""
        raw = self._lazy_comment(target, comment)
        self.call(f"deleting comment {comment.id} on {target}", raw.delete)

    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """``GET /repos/{owner}/{repo}/commits/{sha}/pulls``: open pull requests first, newest first."""
        pulls = self.call(f"finding pull requests for commit {sha}",
                           lambda: [(p.state, p.number) for p in self.repo.get_commit(sha).get_pulls()])
        return [number for state, number in sorted(pulls, key=lambda p: (p[0] != "open", -p[1])) if state == "open"]

    def viewer(self) -> str | None:
        """GraphQL ``{ viewer { login } }``: it answers for personal tokens and for installation tokens alike
        (``github-actions[bot]``, ``my-app[bot]``), where ``GET /user`` refuses the latter."""

        def login() -> str | None:
            _, answer = self._github.requester.graphql_query("query { viewer { login } }", {})
            value = ((answer or {}).get("data") or {}).get("viewer") or {}
            return value.get("login") if isinstance(value.get("login"), str) else None

        return self._remembered_viewer(lambda: self.call("identifying the token's user", login))

    def publish_check(self, check: Check) -> str:
        """``POST /repos/{owner}/{repo}/check-runs`` (summary cut to 65,535 characters) with the check's status, and its
        conclusion only when completed; when its answer is lost,
        ``GET /repos/{owner}/{repo}/commits/{sha}/check-runs?check_name=…`` finds the run by its ``external_id``.
        A run of the same name that cml left queued or in progress on the commit is updated instead
        (``PATCH /repos/{owner}/{repo}/check-runs/{id}``), so ``--status in_progress`` then ``completed`` is one run."""
        from cml.report.truncate import truncate_markdown

        import secrets

        output = {"title": check.title, "summary": truncate_markdown(check.report, CHECK_SUMMARY_LIMIT - 1024)}
        extra = {"details_url": check.details_url} if check.details_url else {}
        if check.status == "completed":  # GitHub completes any run given a conclusion
            extra["conclusion"] = check.conclusion
        external_id = f"cml-{secrets.token_hex(8)}"  # finds this run again if the answer is lost
        action = "creating a check run"

        def create():
            return proven(self.call(action, lambda: self.repo.create_check_run(
                name=check.title, head_sha=check.sha, status=check.status, output=output, external_id=external_id,
                **extra), creates=True), "GitHub", action, "id", "html_url")

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
        pulls = self.call(f"finding the pull request from {source}", lambda: sorted(
            (p for p in self.repo.get_pulls(state="all", head=f"{owner}:{source}", base=target)
             if p.state == "open" or p.merged), key=lambda p: p.state != "open"))
        if not pulls:
            return None
        self._pulls[pulls[0].number] = pulls[0]
        return self._pull(pulls[0])

    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """``POST /repos/{owner}/{repo}/pulls``."""
        action = f"opening a pull request from {source} into {target}"
        raw = proven(self.call(action, lambda: self.repo.create_pull(base=target, head=source, title=title, body=body),
                                creates=True), "GitHub", action, "id", "html_url")
        self._pulls[raw.number] = raw
        return self._pull(raw)

    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """GraphQL ``enablePullRequestAutoMerge``; where GitHub refuses auto-merge (not enabled for the
        repository, or nothing left to wait for), ``PUT /repos/{owner}/{repo}/pulls/{n}/merge``."""
        raw = self._pulls.get(pull.number) or self.call("reading the pull request", lambda: self.repo.get_pull(pull.number))
        try:
            self.call("enabling auto-merge", lambda: raw.enable_automerge(merge_method=method.upper()))
            return "auto-merge"
        except ForgeRequestError:
            self.call(f"merging pull request #{pull.number}", lambda: raw.merge(merge_method=method))
            return "merged"

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """``GET /repos/{owner}/{repo}/actions/runs/{run_id}``; a run that has not completed is cancelled
        (``POST …/actions/runs/{run_id}/cancel``) and polled with ``GET`` until it has; then
        ``POST …/actions/runs/{run_id}/rerun``. Returns the run's ``html_url``.

        The POSTs go through the requester rather than ``WorkflowRun.cancel()``/``rerun()``, which
        return ``False`` on any error instead of raising it.
        """
        import time

        from cml.forges.errors import ForgeError, ForgeRequestError

        if not str(run_id).strip().isdigit():
            raise ForgeRequestError(f"GitHub: '{run_id}' is not a workflow run id (a number, like GITHUB_RUN_ID)")
        number = int(run_id)

        def fetch():
            return self.call(f"reading workflow run {number}", lambda: self.repo.get_workflow_run(number).complete())

        def post(url: str, action: str) -> None:
            self.call(action, lambda: self._github.requester.requestJsonAndCheck("POST", url))

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

    # -- self-hosted runners ------------------------------------------------------------------

    @property
    def _runners_path(self) -> str:
        """Runners belong to the repository, or to the organisation when ``--repo`` names only one."""
        if "/" in self.repository:
            return f"/repos/{self.repository}/actions/runners"
        return f"/orgs/{self.repository}/actions/runners"

    def _request(self, action: str, method: str, path: str, body: dict | None = None, query: dict | None = None,
                 creates: bool = False):
        requester = self._github.requester
        return self.call(action, lambda: requester.requestJsonAndCheck(method, path, parameters=query, input=body),
                         creates=creates)[1]

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
        found, page = [], 1
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
        try:
            self._request(f"removing runner {runner_id}", "DELETE", f"{self._runners_path}/{runner_id}")
        except ForgeNotFoundError:
            pass
