"""A threaded HTTP server on loopback that hands every request to a stateful fake forge.

Faults can be queued to exercise the retry policy and a hostile or broken server: an HTTP
error with headers, a delay past the client's time-out, a connection reset, an answer that
drips one byte at a time, or (``after=True``) a request that takes effect and then gets a
lost, stalled or garbled answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = 0.0

    def json(self):
        return json.loads(self.body or b"null")

    def files(self) -> dict[str, tuple[str, str, bytes]]:
        """Multipart form parts by field name: ``(filename, content type, bytes)``."""
        from email.parser import BytesParser
        from email.policy import HTTP

        content_type = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
        if not content_type.startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + self.body)
        parts = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        return parts


@dataclass
class Response:
    """A JSON answer; ``bytes`` bodies are sent as they are (with the ``Content-Type`` in ``headers``)."""

    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class Fault:
    """Applied to the next ``times`` requests whose method and path match."""

    method: str
    path_pattern: str
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: object = None
    delay: float = 0.0
    reset: bool = False
    times: int = 1
    #: The request is handled first (it takes effect); then the fault replaces or delays its answer.
    after: bool = False
    #: Seconds between the bytes of the answer.
    drip: float = 0.0
    #: Sent as it is instead of the answer's body (with ``content_type``).
    raw: bytes | None = None
    content_type: str = "text/html; charset=utf-8"

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and re.search(self.path_pattern, path) is not None


def write_response(handler: BaseHTTPRequestHandler, status: int, headers: dict, payload: bytes,
                   drip: float = 0.0) -> None:
    """Send a whole response with its ``Content-Length`` (no body for HEAD); with ``drip``, one byte at a time."""
    if drip:
        lines = [f"HTTP/1.1 {status} X", *(f"{k}: {v}" for k, v in headers.items()), f"Content-Length: {len(payload)}"]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        try:
            for index in range(len(data)):
                handler.wfile.write(data[index:index + 1])
                handler.wfile.flush()
                time.sleep(drip)
        except OSError:
            pass
        handler.close_connection = True
        return
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if payload and handler.command != "HEAD":
        handler.wfile.write(payload)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, started and stopped as a context manager."""

    def start_serving(self, handler, poll_interval: float = 0.5) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": poll_interval},
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeForgeServer(LoopbackServer):
    """Runs ``app.handle(request) -> Response`` behind a real HTTP server on 127.0.0.1."""

    def __init__(self, app):
        self.app = app
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body,
                                  time.monotonic())
                with server._lock:
                    server.requests.append(request)
                    fault = next((f for f in server.faults if f.matches(request.method, request.path)), None)
                    if fault:
                        fault.times -= 1
                if fault and fault.after:
                    with server._lock:
                        response = server.app.handle(request)
                if fault and fault.delay:
                    time.sleep(fault.delay)
                if fault and fault.reset:
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                if fault and fault.status:
                    response = Response(fault.status, fault.body, dict(fault.headers))
                elif not (fault and fault.after):
                    with server._lock:
                        response = server.app.handle(request)
                if fault and fault.raw is not None:
                    payload, content_type = fault.raw, fault.content_type
                elif isinstance(response.body, bytes):
                    payload, content_type = response.body, "application/octet-stream"
                else:
                    payload = b"" if response.body is None else json.dumps(response.body).encode()
                    content_type = "application/json; charset=utf-8"
                headers = {"Content-Type": content_type, **response.headers}
                write_response(self, response.status, headers, payload, drip=fault.drip if fault else 0.0)

            do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self.start_serving(Handler)

    def fail(self, method: str, path_pattern: str, **fault) -> None:
        self.faults.append(Fault(method, path_pattern, **fault))

    def count(self, method: str | None = None) -> int:
        return sum(1 for r in self.requests if method is None or r.method == method)
