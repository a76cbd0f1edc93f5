"""A stateful fake of the GitHub REST API: comments are stored, edited, deleted and paginated.

Every request is checked against GitHub's OpenAPI description; a request it does
not allow is answered with 400 and recorded in :attr:`FakeGitHub.violations`.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import unquote, urlencode

from tests.fakes.git_data import GitDataStore
from tests.fakes.pulls import PullStore
from tests.fakes.runners import RunnerStore
from tests.fakes.server import Request, Response

PAT_PREFIXES = ("ghp_", "github_pat_")


class FakeGitHub:
    def __init__(self, description=None, owner: str = "octo", repo: str = "models", prefix: str = ""):
        self.description = description
        self.repository = f"{owner}/{repo}"
        self.prefix = prefix
        self.base_url = ""  # set by the fixture once the server has a port
        self.tokens: dict[str, str] = {}
        self.comments: dict[int, dict] = {}
        self.pulls_by_sha: dict[str, list[dict]] = {}
        self.check_runs: list[dict] = []
        self.check_runs_updated: list[int] = []
        self.workflow_runs: dict[int, dict] = {}  # by id; see add_workflow_run()
        self.workflow_events: list[tuple[str, int]] = []  # ("cancel" | "rerun", run id), in order
        self.violations: list[str] = []
        self.read_only_tokens: set[str] = set()
        self.pull_store = PullStore()
        self.git_data = None  # a GitDataStore, from enable_git_data()
        self.runner_store = RunnerStore()
        self._ids = itertools.count(1001)

    def enable_git_data(self, git_dir: str) -> GitDataStore:
        """Back the Git Data API (and ``/{owner}/{repo}/raw/…`` on the web host) with a bare repository."""
        self.git_data = GitDataStore(git_dir, f"{self.base_url}/repos/{self.repository}")
        return self.git_data

    # -- helpers for tests ------------------------------------------------------------------

    def add_token(self, token: str, login: str) -> None:
        self.tokens[token] = login

    def add_comment(self, number: int | None, body: str, login: str, sha: str | None = None) -> dict:
        comment_id = next(self._ids)
        kind = "commit" if sha else "issue"
        html = f"https://github.test/{self.repository}/" + (
            f"commit/{sha}#commitcomment-{comment_id}" if sha else f"pull/{number}#issuecomment-{comment_id}")
        api = f"{self.base_url}/repos/{self.repository}/" + (f"comments/{comment_id}" if sha else f"issues/comments/{comment_id}")
        comment = {"id": comment_id, "node_id": f"C_{comment_id}", "body": body, "kind": kind, "number": number,
                   "commit_id": sha, "user": {"login": login, "id": 1, "type": "User"},
                   "html_url": html, "url": api, "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z"}
        self.comments[comment_id] = comment
        return comment

    def add_workflow_run(self, run_id: int, status: str = "completed", conclusion: str | None = "failure",
                         polls_to_stop: int = 1) -> dict:
        """A workflow run; once cancelled it stays ``in_progress`` for ``polls_to_stop`` more GETs."""
        api = f"{self.base_url}/repos/{self.repository}/actions/runs/{run_id}"
        run = {"id": run_id, "name": "train", "status": status, "conclusion": conclusion, "run_attempt": 1,
               "head_sha": "f" * 40, "url": api, "cancel_url": f"{api}/cancel", "rerun_url": f"{api}/rerun",
               "html_url": f"https://github.test/{self.repository}/actions/runs/{run_id}",
               "polls_to_stop": polls_to_stop, "cancelling": False}
        self.workflow_runs[run_id] = run
        return run

    def _workflow_run(self, request: Request, run_id: int, action: str | None, token: str) -> Response:
        run = self.workflow_runs.get(run_id)
        if run is None:
            return Response(404, {"message": "Not Found"})
        if action is None:
            if run["cancelling"]:
                run["polls_to_stop"] -= 1
                if run["polls_to_stop"] < 0:
                    run.update(status="completed", conclusion="cancelled", cancelling=False)
            return Response(200, {k: v for k, v in run.items() if k not in ("polls_to_stop", "cancelling")})
        if token in self.read_only_tokens:
            return Response(403, {"message": "Resource not accessible by integration"})
        if action == "cancel":
            if run["status"] == "completed":
                return Response(409, {"message": "Cannot cancel a workflow run that is completed."})
            run["cancelling"] = True
            self.workflow_events.append(("cancel", run_id))
            return Response(202, {})
        if run["status"] != "completed":
            return Response(403, {"message": "This workflow is already running"})
        run.update(status="queued", conclusion=None, run_attempt=run["run_attempt"] + 1)
        self.workflow_events.append(("rerun", run_id))
        return Response(201, {})

    def comments_on(self, number: int | None = None, sha: str | None = None) -> list[dict]:
        return [c for c in self.comments.values()
                if (sha and c["commit_id"] == sha) or (number is not None and c["number"] == number and not c["commit_id"])]

    # -- HTTP ------------------------------------------------------------------------------

    def _public(self, comment: dict) -> dict:
        return {k: v for k, v in comment.items() if k not in ("kind", "number")}

    def _page(self, request: Request, items: list) -> Response:
        per_page = int(request.query.get("per_page", ["30"])[0])
        page = int(request.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        last = max(1, -(-len(items) // per_page))
        if page < last:
            query = {k: v[0] for k, v in request.query.items()}
            link = lambda p: f"<{self.base_url}{request.path}?{urlencode({**query, 'page': p})}>"  # noqa: E731
            headers["Link"] = f'{link(page + 1)}; rel="next", {link(last)}; rel="last"'
        return Response(200, chunk, headers)

    def _raw(self, path: str) -> Response | None:
        """The web host's ``/{owner}/{repo}/raw/{branch}/{path}``, as a logged-in reader would get it."""
        prefix = f"/{self.repository}/raw/"
        if self.git_data is None or not path.startswith(prefix):
            return None
        branch, _, name = unquote(path[len(prefix):]).partition("/")
        data = self.git_data.read(branch, name)
        if data is None:
            return Response(404, {"message": "Not Found"})
        return Response(200, data, {"Content-Type": "application/octet-stream"})

    def _pull_document(self, pull: dict) -> dict:
        owner = self.repository.split("/")[0]
        return {"id": pull["number"] + 5000, "node_id": f"PR_{pull['number']}", "number": pull["number"],
                "state": "open" if pull["state"] == "open" else "closed", "title": pull["title"], "body": pull["body"],
                "html_url": f"https://github.test/{self.repository}/pull/{pull['number']}",
                "url": f"{self.base_url}/repos/{self.repository}/pulls/{pull['number']}",
                "head": {"ref": pull["source"], "label": f"{owner}:{pull['source']}", "sha": "0" * 40},
                "base": {"ref": pull["target"], "label": f"{owner}:{pull['target']}", "sha": "0" * 40},
                "user": {"login": pull["author"]}, "merged": pull["state"] == "merged"}

    def _pulls(self, request: Request, rest: str, login: str) -> Response:
        store = self.pull_store
        if rest == "" and request.method == "GET":
            head = request.query.get("head", [None])[0]
            source = head.split(":", 1)[1] if head and ":" in head else head
            found = store.find(source, request.query.get("base", [None])[0], request.query.get("state", ["open"])[0])
            return self._page(request, [self._pull_document(p) for p in found])
        if rest == "" and request.method == "POST":
            data = request.json()
            if data["base"] in store.refuse_targets:
                return Response(422, {"message": "Validation Failed", "errors": [{"message": "base is protected"}]})
            if store.find(data["head"], data["base"]):
                return Response(422, {"message": "Validation Failed",
                                      "errors": [{"message": "A pull request already exists"}]})
            pull = store.open(data["head"], data["base"], data["title"], data.get("body") or "", login)
            return Response(201, self._pull_document(pull))
        match = re.fullmatch(r"/(\d+)(/merge)?", rest)
        pull = store.get(int(match[1])) if match else None
        if pull is None:
            return Response(404, {"message": "Not Found"})
        if match[2] and request.method == "PUT":
            store.merge(pull, request.json().get("merge_method", "merge"))
            return Response(200, {"sha": "1" * 40, "merged": True, "message": "Pull Request successfully merged"})
        return Response(200, self._pull_document(pull))

    def _graphql(self, request: Request) -> Response:
        """``viewer { login }`` (personal and installation tokens alike) and ``enablePullRequestAutoMerge``,
        as GitHub answers them (errors come with status 200)."""
        document = request.json()
        variables = document.get("variables", {}).get("input", {})
        token = re.sub(r"^(token|Bearer)\s+", "", request.headers.get("Authorization", ""))
        if token not in self.tokens:
            return Response(401, {"message": "Bad credentials"})
        if re.fullmatch(r"\s*query\s*\{\s*viewer\s*\{\s*login\s*\}\s*\}\s*", document.get("query", "")):
            return Response(200, {"data": {"viewer": {"login": self.tokens[token]}}})
        if "enablePullRequestAutoMerge" not in document.get("query", ""):
            return Response(200, {"errors": [{"message": "unsupported query in the fake"}]})
        pull = self.pull_store.get(int(str(variables.get("pullRequestId", "PR_0"))[3:]))
        if pull is None:
            return Response(200, {"errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node"}]})
        if not self.pull_store.auto_merge_allowed:
            return Response(200, {"errors": [{"message": "Pull request Auto merge is not allowed for this repository"}]})
        pull["auto_merge"] = variables.get("mergeMethod")
        return Response(200, {"data": {"enablePullRequestAutoMerge": {"clientMutationId": None, "actor": {
            "login": "bot", "avatarUrl": "", "resourcePath": "/bot", "url": ""}}}})

    def _runner_document(self, runner: dict) -> dict:
        return {"id": runner["id"], "name": runner["name"], "os": "Linux", "status": runner["status"],
                "busy": runner["busy"], "labels": [{"id": i + 1, "name": label, "type": "custom"}
                                                   for i, label in enumerate(runner["labels"])]}

    def _runners(self, request: Request, rest: str, token: str) -> Response:
        """``/repos/{owner}/{repo}/actions/runners…`` and ``/orgs/{org}/actions/runners…``."""
        store = self.runner_store
        if token.startswith("ghs_"):
            return Response(403, {"message": "Resource not accessible by integration"})
        method = request.method
        if method == "POST" and rest == "/registration-token":
            return Response(201, {"token": store.issue_registration_token(), "expires_at": "2026-11-23T12:00:00Z"})
        if method == "POST" and rest == "/remove-token":
            return Response(201, {"token": store.issue_removal_token(), "expires_at": "2026-11-23T12:00:00Z"})
        if method == "POST" and rest == "/generate-jitconfig":
            data = request.json()
            if store.named(data["name"]):
                return Response(409, {"message": "Already exists - A runner with the name already exists."})
            runner = store.create(data["name"], data["labels"], ephemeral=True)
            return Response(201, {"runner": self._runner_document(runner), "encoded_jit_config": store.jit_config(runner)})
        if method == "GET" and rest == "":
            name = request.query.get("name", [None])[0]
            found = [self._runner_document(r) for r in store.runners.values() if name is None or r["name"] == name]
            per_page = int(request.query.get("per_page", ["30"])[0])
            page = int(request.query.get("page", ["1"])[0])
            return Response(200, {"total_count": len(found), "runners": found[(page - 1) * per_page: page * per_page]})
        match = re.fullmatch(r"/(\d+)", rest)
        runner = store.runners.get(int(match[1])) if match else None
        if match and method == "GET":
            return Response(200, self._runner_document(runner)) if runner else Response(404, {"message": "Not Found"})
        if match and method == "DELETE":
            outcome = store.delete(int(match[1]))
            if outcome == "busy":
                return Response(422, {"message": f'Bad request - Runner "{runner["name"]}" is still running a job"'})
            return Response(204) if outcome == "deleted" else Response(404, {"message": "Not Found"})
        return Response(404, {"message": "Not Found"})

    def handle(self, request: Request) -> Response:
        path = request.path
        raw = self._raw(path) if request.method == "GET" else None
        if raw is not None:
            return raw
        if self.prefix:
            if not path.startswith(self.prefix):
                return Response(404, {"message": "Not Found"})
            path = path[len(self.prefix):]
        if path == "/graphql":
            return self._graphql(request)
        if self.description is not None:
            problems = self.description.problems(request.method, path, request.query, request.body,
                                                 request.headers.get("Content-Type"))
            if problems:
                self.violations.extend(problems)
                return Response(400, {"message": "; ".join(problems)})
        authorization = request.headers.get("Authorization", "")
        token = re.sub(r"^(token|Bearer)\s+", "", authorization)
        if token not in self.tokens:
            return Response(401, {"message": "Bad credentials"})
        login = self.tokens[token]
        repo = re.escape(self.repository)
        method = request.method

        if method == "GET" and path == "/user":
            if token.startswith("ghs_"):
                return Response(403, {"message": "Resource not accessible by integration"})
            return Response(200, {"login": login, "id": 1})
        match = re.fullmatch(rf"/repos/{repo}/issues/(\d+)/comments", path)
        if match:
            number = int(match[1])
            if method == "GET":
                return self._page(request, [self._public(c) for c in self.comments_on(number=number)])
            comment = self.add_comment(number, request.json()["body"], login)
            return Response(201, self._public(comment))
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-f]+)/comments", path)
        if match:
            sha = match[1]
            if method == "GET":
                return self._page(request, [self._public(c) for c in self.comments_on(sha=sha)])
            comment = self.add_comment(None, request.json()["body"], login, sha=sha)
            return Response(201, self._public(comment))
        match = re.fullmatch(rf"/repos/{repo}/(issues/comments|comments)/(\d+)", path)
        if match:
            comment = self.comments.get(int(match[2]))
            if comment is None or (comment["kind"] == "commit") != (match[1] == "comments"):
                return Response(404, {"message": "Not Found"})
            if comment["user"]["login"] != login:
                return Response(403, {"message": "Must have admin rights to Repository."})
            if method == "DELETE":
                del self.comments[comment["id"]]
                return Response(204)
            comment["body"] = request.json()["body"]
            comment["updated_at"] = "2026-11-23T11:00:00Z"
            return Response(200, self._public(comment))
        if self.git_data is not None and path.startswith(f"/repos/{self.repository}/git/"):
            if method != "GET" and token in self.read_only_tokens:
                return Response(403, {"message": "Resource not accessible by integration"})
            answer = self.git_data.handle(method, path[len(f"/repos/{self.repository}/"):], request.json(), login)
            if answer is not None:
                return answer
        if path == f"/repos/{self.repository}/pulls" or path.startswith(f"/repos/{self.repository}/pulls/"):
            return self._pulls(request, path[len(f"/repos/{self.repository}/pulls"):], login)
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-f]+)/pulls", path)
        if match:
            return self._page(request, self.pulls_by_sha.get(match[1], []))
        match = re.fullmatch(rf"/repos/{repo}/actions/runs/(\d+)(?:/(cancel|rerun))?", path)
        if match and method == ("GET" if match[2] is None else "POST"):
            return self._workflow_run(request, int(match[1]), match[2], token)
        match = re.fullmatch(rf"/(?:repos/{repo}|orgs/{re.escape(self.repository.split('/')[0])})/actions/runners(/.*)?", path)
        if match:
            return self._runners(request, match[1] or "", token)
        if method == "POST" and path == f"/repos/{self.repository}/check-runs":
            if token.startswith(PAT_PREFIXES):
                return Response(403, {"message": "Resource not accessible by personal access token"})
            run = {"id": next(self._ids), "status": "queued", **request.json(),
                   "html_url": f"https://github.test/{self.repository}/runs/{len(self.check_runs) + 1}"}
            if run.get("conclusion"):  # as GitHub: a conclusion completes the run
                run["status"] = "completed"
            self.check_runs.append(run)
            return Response(201, run)
        match = re.fullmatch(rf"/repos/{repo}/check-runs/(\d+)", path)
        if match and method == "PATCH":
            if token.startswith(PAT_PREFIXES):
                return Response(403, {"message": "Resource not accessible by personal access token"})
            run = next((r for r in self.check_runs if r["id"] == int(match[1])), None)
            if run is None:
                return Response(404, {"message": "Not Found"})
            run.update(request.json())
            if run.get("conclusion"):
                run["status"] = "completed"
            self.check_runs_updated.append(run["id"])
            return Response(200, run)
        match = re.fullmatch(rf"/repos/{repo}/commits/([0-9a-fA-F]+)/check-runs", path)
        if match and method == "GET":
            name = request.query.get("check_name", [None])[0]
            runs = [r for r in self.check_runs if r["head_sha"] == match[1] and name in (None, r["name"])]
            return Response(200, {"total_count": len(runs), "check_runs": runs})
        return Response(404, {"message": "Not Found"})
