"""A fake forge served under a sub-path (``/gitlab``), as a self-managed GitLab behind a shared host's proxy.

Everything outside the sub-path gets the other application's HTML page (200), as the host's root site would.
"""

from __future__ import annotations

from tests.fakes.server import Request, Response


class SubPath:
    """Hands requests under ``prefix`` to ``app`` with the prefix removed; answers the rest as an HTML site."""

    def __init__(self, app, prefix: str = "/gitlab"):
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.outside: list[str] = []  # paths asked outside the sub-path

    @property
    def base_url(self) -> str:
        return self.app.base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self.app.base_url = url + self.prefix  # the app's own links (pagination) keep the sub-path

    def handle(self, request: Request) -> Response:
        if request.path.startswith(self.prefix + "/"):
            inner = Request(request.method, request.path[len(self.prefix):], request.query, request.headers,
                            request.body, request.at)
            return self.app.handle(inner)
        self.outside.append(request.path)
        return Response(200, b"<html><body>Intranet home</body></html>", {"Content-Type": "text/html"})
