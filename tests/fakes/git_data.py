"""GitHub's Git Data API on top of a real bare repository, for the fake GitHub.

Blobs, trees, commits and refs are made by git itself (``hash-object``,
``mktree``, ``commit-tree``, ``update-ref``), so tests can check the result with
git: the files on the branch, the parent chain, that nothing was force-pushed.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess

from tests.fakes.server import Response


class GitDataStore:
    def __init__(self, git_dir: str, api_base: str):
        self.git_dir = git_dir
        self.api_base = api_base
        #: Called (and removed) just before the next ref update: lets a test make another job win a race.
        self.before_ref_update: list = []
        subprocess.run(["git", "init", "-q", "--bare", git_dir], check=True)

    def git(self, *args: str, data: bytes | None = None, env: dict | None = None) -> str:
        completed = subprocess.run(["git", "--git-dir", self.git_dir, *args], input=data, capture_output=True,
                                   env={**os.environ, **(env or {})}, check=False)
        if completed.returncode:
            raise RuntimeError(completed.stderr.decode())
        return completed.stdout.decode().strip()

    def head(self, branch: str) -> str | None:
        try:
            return self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}")
        except RuntimeError:
            return None

    def read(self, branch: str, path: str) -> bytes | None:
        completed = subprocess.run(["git", "--git-dir", self.git_dir, "cat-file", "blob", f"{branch}:{path}"],
                                   capture_output=True, check=False)
        return completed.stdout if completed.returncode == 0 else None

    def commit_file(self, branch: str, name: str, data: bytes, message: str = "another job") -> str:
        """Commit ``name`` on ``branch`` as another writer would (used to provoke races)."""
        blob = self.git("hash-object", "-w", "--stdin", data=data)
        parent = self.head(branch)
        entries = self._entries(parent) if parent else {}
        entries[name] = f"100644 blob {blob}\t{name}"
        tree = self.git("mktree", data="\n".join(entries.values()).encode() + b"\n")
        commit = self.git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", message, env=_identity("other"))
        self.git("update-ref", f"refs/heads/{branch}", commit)
        return commit

    def _entries(self, treeish: str) -> dict[str, str]:
        listing = self.git("ls-tree", treeish)
        return {line.split("\t", 1)[1]: line for line in listing.splitlines() if line}

    # -- API documents -------------------------------------------------------------------

    def _ref(self, ref: str, sha: str) -> dict:
        return {"ref": ref, "node_id": "REF_" + sha[:8], "url": f"{self.api_base}/git/{ref}",
                "object": {"sha": sha, "type": "commit", "url": f"{self.api_base}/git/commits/{sha}"}}

    def _commit(self, sha: str) -> dict:
        raw = self.git("cat-file", "commit", sha)
        header, _, message = raw.partition("\n\n")
        tree = re.search(r"^tree (\w+)", header, re.M)[1]
        parents = re.findall(r"^parent (\w+)", header, re.M)
        person = {"name": "cml", "email": "cml@example.test", "date": "2026-11-23T10:00:00Z"}
        return {"sha": sha, "node_id": "C_" + sha[:8], "url": f"{self.api_base}/git/commits/{sha}",
                "html_url": f"https://github.test/commit/{sha}", "author": person, "committer": person,
                "message": message, "tree": {"sha": tree, "url": f"{self.api_base}/git/trees/{tree}"},
                "parents": [{"sha": p, "url": f"{self.api_base}/git/commits/{p}", "html_url": ""} for p in parents],
                "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                                 "verified_at": None}}

    def _tree(self, sha: str) -> dict:
        entries = []
        for line in self.git("ls-tree", "-l", sha).splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, object_sha, size = meta.split()
            entries.append({"path": path, "mode": mode, "type": kind, "sha": object_sha,
                            "size": int(size) if size != "-" else None, "url": f"{self.api_base}/git/blobs/{object_sha}"})
        return {"sha": sha, "url": f"{self.api_base}/git/trees/{sha}", "truncated": False, "tree": entries}

    # -- endpoints -----------------------------------------------------------------------

    def handle(self, method: str, rest: str, body, login: str) -> Response | None:
        """Answer ``/repos/{owner}/{repo}/<rest>`` when it is a Git Data endpoint."""
        match = re.fullmatch(r"git/ref/(heads/.+)", rest)
        if match and method == "GET":
            sha = self.head(match[1][len("heads/"):])
            return Response(200, self._ref("refs/" + match[1], sha)) if sha else Response(404, {"message": "Not Found"})
        match = re.fullmatch(r"git/commits/(\w+)", rest)
        if match and method == "GET":
            try:
                return Response(200, self._commit(match[1]))
            except RuntimeError:
                return Response(404, {"message": "Not Found"})
        match = re.fullmatch(r"git/trees/(\w+)", rest)
        if match and method == "GET":
            try:
                return Response(200, self._tree(match[1]))
            except RuntimeError:
                return Response(404, {"message": "Not Found"})
        if rest == "git/blobs" and method == "POST":
            content = body["content"]
            data = base64.b64decode(content) if body.get("encoding") == "base64" else content.encode()
            sha = self.git("hash-object", "-w", "--stdin", data=data)
            return Response(201, {"sha": sha, "url": f"{self.api_base}/git/blobs/{sha}"})
        if rest == "git/trees" and method == "POST":
            entries = self._entries(body["base_tree"]) if body.get("base_tree") else {}
            for entry in body["tree"]:
                if "/" in entry["path"]:
                    return Response(422, {"message": "the fake only writes top-level paths"})
                entries[entry["path"]] = f"{entry['mode']} {entry['type']} {entry['sha']}\t{entry['path']}"
            tree = self.git("mktree", data=("\n".join(entries.values()) + "\n").encode())
            return Response(201, self._tree(tree))
        if rest == "git/commits" and method == "POST":
            parents = [arg for parent in body.get("parents", []) for arg in ("-p", parent)]
            sha = self.git("commit-tree", body["tree"], *parents, "-m", body["message"], env=_identity(login))
            return Response(201, self._commit(sha))
        if (rest == "git/refs" and method == "POST") or (rest.startswith("git/refs/") and method == "PATCH"):
            while self.before_ref_update:
                self.before_ref_update.pop(0)()
        match = re.fullmatch(r"git/refs/(heads/.+)", rest)
        if match and method == "PATCH":
            branch = match[1][len("heads/"):]
            current = self.head(branch)
            if current is None:
                return Response(422, {"message": "Reference does not exist"})
            if not body.get("force"):
                ancestor = subprocess.run(["git", "--git-dir", self.git_dir, "merge-base", "--is-ancestor",
                                           current, body["sha"]], check=False).returncode == 0
                if not ancestor:
                    return Response(422, {"message": "Update is not a fast forward"})
            self.git("update-ref", f"refs/heads/{branch}", body["sha"], current)
            return Response(200, self._ref(f"refs/{match[1]}", body["sha"]))
        if rest == "git/refs" and method == "POST":
            ref = body["ref"]
            if self.head(ref[len("refs/heads/"):]) is not None:
                return Response(422, {"message": "Reference already exists"})
            self.git("update-ref", ref, body["sha"], "0" * 40)
            return Response(201, self._ref(ref, body["sha"]))
        return None


def _identity(login: str) -> dict:
    return {"GIT_AUTHOR_NAME": login, "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.test",
            "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.test",
            "GIT_AUTHOR_DATE": "2026-11-23T10:00:00Z", "GIT_COMMITTER_DATE": "2026-11-23T10:00:00Z"}
