"""Stateful fakes of the GitLab, Bitbucket Cloud and Gitea APIs: comments really stored and paginated."""

from __future__ import annotations

import itertools
import re
import uuid
from urllib.parse import unquote, urlencode

from tests.fakes.pulls import PullStore
from tests.fakes.runners import RunnerStore
from tests.fakes.server import Request, Response


class CommentStore:
    """Comments keyed by thread (``("pr", 7)``, ``("issue", 3)``, ``("commit", sha)``)."""

    def __init__(self):
        self.threads: dict[tuple, list[dict]] = {}
        self._ids = itertools.count(501)

    def add(self, thread: tuple, body: str, author: str) -> dict:
        comment = {"id": next(self._ids), "body": body, "author": author}
        self.threads.setdefault(thread, []).append(comment)
        return comment

    def find(self, thread: tuple, comment_id: int) -> dict | None:
        return next((c for c in self.threads.get(thread, []) if c["id"] == comment_id), None)

    def on(self, kind: str, ref) -> list[dict]:
        return self.threads.get((kind, ref), [])


class _Fake:
    token_header = "Authorization"

    def __init__(self):
        self.store = CommentStore()
        self.tokens: dict[str, str] = {}
        self.base_url = ""
        self.pulls_by_sha: dict[str, list[dict]] = {}
        self.pull_store = PullStore()
        self.statuses: list[tuple[str, dict]] = []

    def add_token(self, token: str, user: str) -> None:
        self.tokens[token] = user

    def user_for(self, request: Request) -> str | None:
        value = request.headers.get(self.token_header, "")
        return self.tokens.get(re.sub(r"^(token|Bearer|Basic)\s+", "", value))


class FakeGitLab(_Fake):
    """``/api/v4`` with ``PRIVATE-TOKEN`` auth, ``page``/``per_page`` paging and ``Link`` headers."""

    token_header = "PRIVATE-TOKEN"

    def __init__(self, project_path: str = "ml/models", project_id: int = 42):
        super().__init__()
        self.project_path = project_path
        self.project_keys = {str(project_id), project_path}
        self.uploads: dict[str, tuple[str, bytes]] = {}  # "/uploads/<secret>/<name>" -> (content type, bytes)
        self.pipelines: dict[int, dict] = {}  # by id; see add_pipeline()
        self.pipeline_events: list[tuple[str, int]] = []  # ("cancel" | "retry", pipeline id), in order
        self.project_id = project_id
        self.runner_store = RunnerStore()
        self.runner_requests: list[dict] = []  # bodies of POST /user/runners

    def add_pipeline(self, pipeline_id: int, status: str = "failed") -> dict:
        pipeline = {"id": pipeline_id, "iid": 1, "project_id": 42, "status": status, "ref": "main", "sha": "0" * 40,
                    "web_url": f"https://gitlab.test/{self.project_path}/-/pipelines/{pipeline_id}"}
        self.pipelines[pipeline_id] = pipeline
        return pipeline

    def _pipeline(self, request: Request, pipeline_id: int, action: str | None) -> Response:
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            return Response(404, {"message": "404 Not found"})
        if action == "cancel":
            if pipeline["status"] in ("created", "waiting_for_resource", "preparing", "pending", "running"):
                pipeline["status"] = "canceled"
            self.pipeline_events.append(("cancel", pipeline_id))
        elif action == "retry":
            if pipeline["status"] in ("failed", "canceled"):
                pipeline["status"] = "pending"
            self.pipeline_events.append(("retry", pipeline_id))
        return Response(201 if action else 200, pipeline)

    def _page(self, request: Request, items: list) -> Response:
        per_page = int(request.query.get("per_page", ["20"])[0])
        page = int(request.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items))}
        if page * per_page < len(items):
            query = {k: v[0] for k, v in request.query.items()}
            headers["Link"] = f'<{self.base_url}{request.path}?{urlencode({**query, "page": page + 1})}>; rel="next"'
            headers["X-Next-Page"] = str(page + 1)
        return Response(200, chunk, headers)

    def _note(self, comment: dict) -> dict:
        return {"id": comment["id"], "body": comment["body"], "system": False,
                "author": {"username": comment["author"]}, "created_at": "2026-11-23T10:00:00Z"}

    def _merge_request_document(self, pull: dict) -> dict:
        return {"iid": pull["number"], "id": pull["number"] + 9000, "state": "opened" if pull["state"] == "open" else "merged",
                "source_branch": pull["source"], "target_branch": pull["target"], "title": pull["title"],
                "description": pull["body"], "web_url": f"https://gitlab.test/ml/models/-/merge_requests/{pull['number']}",
                "merge_when_pipeline_succeeds": bool(pull["auto_merge"])}

    def _merge_requests(self, request: Request, merge_iid: str | None, user: str) -> Response:
        store = self.pull_store
        if merge_iid is not None:
            pull = store.get(int(merge_iid))
            if pull is None:
                return Response(404, {"message": "404 Not found"})
            # GitLab reads parameters from the query string and the body alike.
            data = {**{k: v[0] for k, v in request.query.items()}, **(request.json() or {})}
            if str(data.get("merge_when_pipeline_succeeds")).lower() == "true":
                pull["auto_merge"] = "squash" if str(data.get("squash")).lower() == "true" else "merge"
            else:
                store.merge(pull, "merge")
            return Response(200, self._merge_request_document(pull))
        if request.method == "GET":
            query = {k: v[0] for k, v in request.query.items()}
            state = {"opened": "open", None: "all"}.get(query.get("state"), query.get("state"))
            found = store.find(query.get("source_branch"), query.get("target_branch"), state)
            return Response(200, [self._merge_request_document(p) for p in found])
        data = request.json()
        if data["target_branch"] in store.refuse_targets:
            return Response(422, {"message": ["target branch is protected"]})
        if store.find(data["source_branch"], data["target_branch"]):
            return Response(409, {"message": ["Another open merge request already exists for this source branch"]})
        pull = store.open(data["source_branch"], data["target_branch"], data["title"], data.get("description", ""), user)
        return Response(201, self._merge_request_document(pull))

    def _runner_document(self, runner: dict, detailed: bool) -> dict:
        document = {"id": runner["id"], "description": runner["name"], "status": runner["status"],
                    "online": runner["status"] == "online", "paused": False, "is_shared": False,
                    "runner_type": "project_type", "name": "gitlab-runner", "ip_address": None}
        if detailed:
            document.update(tag_list=runner["labels"], run_untagged=runner["run_untagged"], locked=runner["locked"])
        return document

    def _runners(self, request: Request, path: str) -> Response | None:
        """``POST /user/runners``, ``GET /projects/:id/runners``, ``GET|DELETE /runners/:id``, ``GET /runners/:id/jobs``."""
        store = self.runner_store
        if path == "/api/v4/user/runners" and request.method == "POST":
            data = request.json()
            self.runner_requests.append(data)
            if str(data.get("project_id")) != str(self.project_id) or data.get("runner_type") != "project_type":
                return Response(400, {"message": "400 Bad request - project_id is invalid"})
            tags = data.get("tag_list") or []
            tags = tags.split(",") if isinstance(tags, str) else tags
            runner = store.create(data.get("description", ""), tags, run_untagged=data.get("run_untagged", True),
                                  locked=data.get("locked", False))
            return Response(201, {"id": runner["id"], "token": store.glrt_token(runner), "token_expires_at": None})
        match = re.fullmatch(r"/api/v4/projects/(.+?)/runners", path)
        if match and match[1] in self.project_keys and request.method == "GET":
            return self._page(request, [self._runner_document(r, False) for r in store.runners.values()])
        match = re.fullmatch(r"/api/v4/runners/(\d+)(/jobs)?", path)
        if match:
            runner = store.runners.get(int(match[1]))
            if runner is None:
                return Response(404, {"message": "404 Not found"})
            if match[2]:
                return Response(200, [{"id": 1, "status": "running"}] if runner["busy"] else [])
            if request.method == "DELETE":
                store.delete(runner["id"])
                return Response(204)
            return Response(200, self._runner_document(runner, True))
        return None

    def _unregister_by_token(self, request: Request) -> Response:
        """``DELETE /runners`` with the runner's own ``token`` (what the machine does, no user token)."""
        fields = request.files()
        token = fields["token"][2].decode() if "token" in fields else (request.query.get("token") or [""])[0]
        runner_id = self.runner_store.authentication_tokens.get(token)
        if runner_id is None or runner_id not in self.runner_store.runners:
            return Response(403, {"message": "403 Forbidden"})
        self.runner_store.delete(runner_id)
        return Response(204)

    def handle(self, request: Request) -> Response:
        path = unquote(request.path)
        if path == "/api/v4/runners" and request.method == "DELETE":
            return self._unregister_by_token(request)
        web_prefix = f"/{self.project_path}/uploads/"
        if request.method == "GET" and path.startswith(web_prefix):
            stored = self.uploads.get(path[len(self.project_path) + 1:])
            return Response(200, stored[1], {"Content-Type": stored[0]}) if stored else Response(404, {"message": "404"})
        user = self.user_for(request)
        if user is None:
            return Response(401, {"message": "401 Unauthorized"})
        match = re.fullmatch(r"/api/v4/projects/(.+?)/uploads", path)
        if match and match[1] in self.project_keys and request.method == "POST":
            name, content_type, data = request.files()["file"]
            url = f"/uploads/{uuid.uuid4().hex}/{name}"
            self.uploads[url] = (content_type, data)
            return Response(201, {"id": len(self.uploads), "alt": name, "url": url,
                                  "full_path": f"/-/project/42{url}", "markdown": f"![{name}]({url})"})
        if path == "/api/v4/user":
            return Response(200, {"username": user, "id": 9})
        if path in (f"/api/v4/projects/{self.project_path}", f"/api/v4/projects/{self.project_id}"):
            return Response(200, {"id": self.project_id, "path_with_namespace": self.project_path,
                                  "web_url": f"https://gitlab.test/{self.project_path}"})
        answer = self._runners(request, path)
        if answer is not None:
            return answer
        match = re.fullmatch(r"/api/v4/projects/(.+?)/(merge_requests|issues)/(\d+)/notes(?:/(\d+))?", path)
        if match and match[1] in self.project_keys:
            thread = ("pr" if match[2] == "merge_requests" else "issue", int(match[3]))
            if match[4] is None:
                if request.method == "GET":
                    return self._page(request, [self._note(c) for c in self.store.threads.get(thread, [])])
                return Response(201, self._note(self.store.add(thread, request.json()["body"], user)))
            comment = self.store.find(thread, int(match[4]))
            if comment is None:
                return Response(404, {"message": "404 Not found"})
            if request.method == "DELETE":
                self.store.threads[thread].remove(comment)
                return Response(204)
            comment["body"] = request.json()["body"]
            return Response(200, self._note(comment))
        match = re.fullmatch(r"/api/v4/projects/(.+?)/pipelines/(\d+)(?:/(cancel|retry))?", path)
        if match and match[1] in self.project_keys and request.method == ("GET" if match[3] is None else "POST"):
            return self._pipeline(request, int(match[2]), match[3])
        match = re.fullmatch(r"/api/v4/projects/(.+?)/merge_requests(?:/(\d+)/merge)?", path)
        if match and match[1] in self.project_keys:
            return self._merge_requests(request, match[2], user)
        match = re.fullmatch(r"/api/v4/projects/(.+?)/statuses/([0-9a-f]+)", path)
        if match and match[1] in self.project_keys and request.method == "POST":
            status = request.json()
            if status.get("state") not in ("pending", "running", "success", "failed", "canceled", "skipped"):
                return Response(400, {"message": "state is invalid"})
            self.statuses.append((match[2], status))
            return Response(201, {"id": len(self.statuses), **status})
        match = re.fullmatch(r"/api/v4/projects/(.+?)/repository/commits/([0-9a-f]+)/(comments|merge_requests)", path)
        if match and match[1] in self.project_keys:
            if match[3] == "merge_requests":
                return Response(200, self.pulls_by_sha.get(match[2], []))
            thread = ("commit", match[2])
            if request.method == "GET":
                return self._page(request, [{"note": c["body"], "author": {"username": c["author"]}}
                                            for c in self.store.threads.get(thread, [])])
            comment = self.store.add(thread, request.json()["note"], user)
            return Response(201, {"note": comment["body"], "author": {"username": user}})
        return Response(404, {"message": "404 Not found"})


class FakeBitbucket(_Fake):
    """``/2.0`` with Basic or Bearer auth, ``pagelen``/``page`` paging and ``next`` links."""

    def __init__(self, repository: str = "team/models"):
        super().__init__()
        self.repository = repository
        self.uuids: dict[str, str] = {}
        self.downloads: dict[str, tuple[str, bytes]] = {}
        self.pipelines: dict[str, dict] = {}  # by uuid, in creation order; see add_pipeline()

    def add_pipeline(self, pipeline_uuid: str, target: dict, state: str = "COMPLETED") -> dict:
        number = len(self.pipelines) + 1
        pipeline = {"type": "pipeline", "uuid": pipeline_uuid, "build_number": number, "target": target,
                    "state": {"name": state, "type": f"pipeline_state_{state.lower()}"}, "links": {"self": {
                        "href": f"{self.base_url}/2.0/repositories/{self.repository}/pipelines/{pipeline_uuid}"}}}
        self.pipelines[pipeline_uuid] = pipeline
        return pipeline

    def _pipelines(self, request: Request, rest: str) -> Response | None:
        if rest == "pipelines/" and request.method == "POST":
            target = (request.json() or {}).get("target")
            if not isinstance(target, dict) or target.get("type") not in ("pipeline_ref_target", "pipeline_commit_target",
                                                                          "pipeline_pullrequest_target"):
                return Response(400, {"type": "error", "error": {"message": "target: a pipeline target is required"}})
            return Response(201, self.add_pipeline("{" + str(uuid.uuid4()) + "}", target, "PENDING"))
        match = re.fullmatch(r"pipelines/(\{[^/]+\})", unquote(rest))
        if match and request.method == "GET":
            pipeline = self.pipelines.get(match[1])
            return Response(200, pipeline) if pipeline else Response(404, {"type": "error", "error": {
                "message": "Pipeline not found"}})
        return None

    def add_token(self, token: str, user: str) -> None:
        super().add_token(token, user)
        self.uuids[user] = "{" + f"{abs(hash(user)) % 10**8:08d}-uuid" + "}"

    def _comment(self, comment: dict) -> dict:
        return {"id": comment["id"], "content": {"raw": comment["body"]}, "deleted": False,
                "user": {"uuid": self.uuids.get(comment["author"], "{x}"), "display_name": comment["author"]},
                "links": {"html": {"href": f"https://bitbucket.test/{self.repository}/c/{comment['id']}"}}}

    def _page(self, request: Request, values: list) -> Response:
        pagelen = int(request.query.get("pagelen", ["10"])[0])
        page = int(request.query.get("page", ["1"])[0])
        document = {"values": values[(page - 1) * pagelen: page * pagelen], "pagelen": pagelen, "page": page,
                    "size": len(values)}
        if page * pagelen < len(values):
            document["next"] = f"{self.base_url}{request.path}?{urlencode({'pagelen': pagelen, 'page': page + 1})}"
        return Response(200, document)

    def _pull_document(self, pull: dict) -> dict:
        return {"id": pull["number"], "title": pull["title"], "state": "OPEN" if pull["state"] == "open" else "MERGED",
                "source": {"branch": {"name": pull["source"]}}, "destination": {"branch": {"name": pull["target"]}},
                "links": {"html": {"href": f"https://bitbucket.test/{self.repository}/pull-requests/{pull['number']}"}}}

    def _pull_requests(self, request: Request, rest: str, user: str) -> Response:
        store = self.pull_store
        if rest.endswith("/merge"):
            pull = store.get(int(rest.split("/")[1]))
            store.merge(pull, request.json()["merge_strategy"])
            return Response(200, self._pull_document(pull))
        if request.method == "GET":
            query = request.query.get("q", [""])[0]
            source = re.search(r'source.branch.name="([^"]+)"', query)
            target = re.search(r'destination.branch.name="([^"]+)"', query)
            states = tuple(s.lower() for s in request.query.get("state", ["OPEN"]))
            found = store.find(source and source[1], target and target[1], states)
            return Response(200, {"values": [self._pull_document(p) for p in found], "pagelen": 10, "page": 1})
        data = request.json()
        pull = store.open(data["source"]["branch"]["name"], data["destination"]["branch"]["name"], data["title"],
                          data.get("description", ""), user)
        return Response(201, self._pull_document(pull))

    def handle(self, request: Request) -> Response:
        web_prefix = f"/{self.repository}/downloads/"
        if request.method == "GET" and request.path.startswith(web_prefix):
            stored = self.downloads.get(unquote(request.path[len(web_prefix):]))
            return Response(200, stored[1], {"Content-Type": stored[0]}) if stored else Response(404, {})
        user = self.user_for(request)
        if user is None:
            return Response(401, {"type": "error", "error": {"message": "Access token expired or invalid"}})
        downloads = f"/2.0/repositories/{self.repository}/downloads"
        if request.path == downloads and request.method == "POST":
            name, content_type, data = request.files()["files"]
            self.downloads[name] = (content_type, data)
            return Response(201)
        if request.path.startswith(downloads + "/") and request.method == "GET":
            name = unquote(request.path[len(downloads) + 1:])
            if name not in self.downloads:
                return Response(404, {"type": "error", "error": {"message": "No such file"}})
            return Response(302, None, {"Location": f"{self.base_url}{web_prefix}{name}"})
        if request.path == "/2.0/user":
            return Response(200, {"uuid": self.uuids[user], "display_name": user})
        prefix = f"/2.0/repositories/{self.repository}/"
        if not request.path.startswith(prefix):
            return Response(404, {"type": "error", "error": {"message": "Repository not found"}})
        rest = request.path[len(prefix):]
        answer = self._pipelines(request, rest)
        if answer is not None:
            return answer
        if rest == "pullrequests" or re.fullmatch(r"pullrequests/\d+/merge", rest):
            return self._pull_requests(request, rest, user)
        match = re.fullmatch(r"commit/([0-9a-f]+)/pullrequests", rest)
        if match:
            return self._page(request, self.pulls_by_sha.get(match[1], []))
        match = re.fullmatch(r"commit/([0-9a-f]+)/statuses/build", rest)
        if match and request.method == "POST":
            status = request.json()
            if not status.get("url") or status.get("state") not in ("SUCCESSFUL", "FAILED", "INPROGRESS", "STOPPED"):
                return Response(400, {"type": "error", "error": {"message": "invalid build status"}})
            self.statuses.append((match[1], status))
            return Response(201, status)
        match = re.fullmatch(r"(pullrequests|issues|commit)/(\w+)/comments(?:/(\d+))?", rest)
        if not match:
            return Response(404, {"type": "error", "error": {"message": "Not found"}})
        kind = {"pullrequests": "pr", "issues": "issue", "commit": "commit"}[match[1]]
        thread = (kind, match[2] if kind == "commit" else int(match[2]))
        if match[3] is None:
            if request.method == "GET":
                return self._page(request, [self._comment(c) for c in self.store.threads.get(thread, [])])
            body = request.json()["content"]["raw"]
            if len(body) > 32_767:
                return Response(400, {"type": "error", "error": {"message": "content too long"}})
            return Response(201, self._comment(self.store.add(thread, body, user)))
        comment = self.store.find(thread, int(match[3]))
        if comment is None:
            return Response(404, {"type": "error", "error": {"message": "Not found"}})
        if request.method == "DELETE":
            self.store.threads[thread].remove(comment)
            return Response(204)
        comment["body"] = request.json()["content"]["raw"]
        return Response(200, self._comment(comment))


class FakeGitea(_Fake):
    """``/api/v1`` with ``token`` auth and ``page``/``limit`` paging with ``Link`` headers."""

    def __init__(self, repository: str = "ml/models"):
        super().__init__()
        self.repository = repository
        self.attachment_settings = {"enabled": True, "max_files": 5, "max_size": 2048, "allowed_types":
                                    ".csv,.docx,.gif,.gz,.jpeg,.jpg,.log,.md,.pdf,.png,.svg,.txt,.webm,.zip"}
        self.attachments: dict[int, list[dict]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}

    def _attachments(self, request: Request, number: int) -> Response:
        if request.method == "GET":
            return Response(200, self.attachments.get(number, []))
        name, content_type, data = request.files()["attachment"]
        name = request.query.get("name", [name])[0]
        allowed = self.attachment_settings["allowed_types"].split(",")
        if "." + name.rsplit(".", 1)[-1] not in allowed:
            return Response(422, {"message": f"File type is not allowed: {name}"})
        if len(data) > self.attachment_settings["max_size"] * 1024 * 1024:
            return Response(413, {"message": "file too large"})
        key = str(uuid.uuid4())
        self.files[key] = (content_type, data)
        attachment = {"id": len(self.files), "name": name, "size": len(data), "uuid": key,
                      "browser_download_url": f"{self.base_url}/attachments/{key}"}
        self.attachments.setdefault(number, []).append(attachment)
        return Response(201, attachment)

    def _comment(self, comment: dict) -> dict:
        return {"id": comment["id"], "body": comment["body"], "user": {"login": comment["author"]},
                "html_url": f"https://gitea.test/{self.repository}/pulls/x#issuecomment-{comment['id']}"}

    def _pull_document(self, pull: dict) -> dict:
        return {"number": pull["number"], "state": "open" if pull["state"] == "open" else "closed",
                "merged": pull["state"] == "merged",
                "html_url": f"https://gitea.test/{self.repository}/pulls/{pull['number']}",
                "head": {"ref": pull["source"]}, "base": {"ref": pull["target"]}}

    def _pulls(self, request: Request, rest: str, user: str) -> Response:
        store = self.pull_store
        if rest == "pulls":
            data = request.json()
            pull = store.open(data["head"], data["base"], data["title"], data.get("body", ""), user)
            return Response(201, self._pull_document(pull))
        first, second = rest.split("/")[1:3]
        if second == "merge":
            pull = store.get(int(first))
            pull["auto_merge"] = request.json()["Do"]
            return Response(200)
        found = store.find(unquote(second), unquote(first), "all")
        return Response(200, self._pull_document(found[0])) if found else Response(404, {"message": "pull request does not exist"})

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/attachments/"):
            stored = self.files.get(request.path[len("/attachments/"):])
            return Response(200, stored[1], {"Content-Type": stored[0]}) if stored else Response(404, {})
        user = self.user_for(request)
        if user is None:
            return Response(401, {"message": "token is required"})
        if request.path == "/api/v1/user":
            return Response(200, {"login": user, "id": 3})
        if request.path == "/api/v1/settings/attachment":
            return Response(200, self.attachment_settings)
        prefix = f"/api/v1/repos/{self.repository}/"
        rest = request.path[len(prefix):] if request.path.startswith(prefix) else ""
        if rest == "pulls" or re.fullmatch(r"pulls/(\d+/merge|[^/]+/[^/]+)", rest):
            return self._pulls(request, rest, user)
        match = re.fullmatch(r"statuses/([0-9a-f]+)", rest)
        if match and request.method == "POST":
            if request.json().get("state") not in ("pending", "success", "error", "failure", "warning"):
                return Response(422, {"message": "invalid commit status state"})
            self.statuses.append((match[1], request.json()))
            return Response(201, request.json())
        match = re.fullmatch(r"commits/([0-9a-f]+)/pull", rest)
        if match:
            pulls = self.pulls_by_sha.get(match[1])
            return Response(200, pulls[0]) if pulls else Response(404, {"message": "pull request does not exist"})
        match = re.fullmatch(r"issues/(\d+)/assets", rest)
        if match:
            return self._attachments(request, int(match[1]))
        match = re.fullmatch(r"issues/(\d+)/comments", rest)
        if match:
            thread = ("pr", int(match[1]))
            if request.method == "GET":
                limit = int(request.query.get("limit", ["30"])[0])
                page = int(request.query.get("page", ["1"])[0])
                items = self.store.threads.get(thread, [])
                headers = {}
                if page * limit < len(items):
                    headers["Link"] = f'<{self.base_url}{request.path}?limit={limit}&page={page + 1}>; rel="next"'
                return Response(200, [self._comment(c) for c in items[(page - 1) * limit: page * limit]], headers)
            return Response(201, self._comment(self.store.add(thread, request.json()["body"], user)))
        match = re.fullmatch(r"issues/comments/(\d+)", rest)
        if match:
            for thread, comments in self.store.threads.items():
                comment = self.store.find(thread, int(match[1]))
                if comment:
                    if request.method == "DELETE":
                        comments.remove(comment)
                        return Response(204)
                    comment["body"] = request.json()["body"]
                    return Response(200, self._comment(comment))
        return Response(404, {"message": "not found"})
