"""One HTTP policy for every forge and server cml talks to, applied by the session every client sends through.

- **Time**: ``CML_HTTP_TIMEOUT`` bounds a whole request (connect, headers and body), so a server
  that drips one byte at a time cannot hold a job; ``CML_HTTP_MAX_WAIT`` bounds one operation,
  its attempts and the waits between them included.
- **Retries**: 5xx, 429, GitHub's primary and secondary rate limits, time-outs and broken
  connections, waiting as ``Retry-After``/``x-ratelimit-reset`` say or backing off exponentially.
  A request that is not idempotent (a ``POST``) is retried only when the server certainly did not
  process it (no connection, 503, a rate limit); otherwise its outcome is unknown
  (:class:`~cml.errors.ServiceOutcomeUnknownError`) and the caller looks for what it may have created
  before trying again (:func:`create_once`).
- **Errors**: a failure left after retrying is raised as the session's :class:`~cml.errors.ErrorKinds`
  (the ``Forge*`` classes for forges, the plain ``Service*`` ones for other servers), naming the
  :func:`operation` it happened in.
- **Credentials**: a session is bound to one origin; it never sends a request elsewhere and
  refuses a redirect to another origin, so a token cannot follow one.
- **Size**: an answer larger than :data:`MAX_RESPONSE_BYTES` is refused, and error text from a
  server is cut to :data:`MAX_ERROR_CHARACTERS`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import urljoin, urlsplit

from cml.errors import SERVICE_ERRORS, ErrorKinds, ServiceError, ServiceOutcomeUnknownError, UsageError

T = TypeVar("T")
RETRYABLE_STATUS = {500, 502, 503, 504}
#: Server errors after which a request that creates something may still have taken effect (503 says it was not).
UNCERTAIN_STATUS = {500, 502, 504}
#: The largest answer read from an API; forge answers (a page of 100 comments) are far smaller.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Server text quoted in an error message is cut to this many characters.
MAX_ERROR_CHARACTERS = 300
#: Methods whose repetition has the same effect as one request.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})


def _environment_number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    text = env.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= minimum or value == float("inf"):
        raise UsageError(f"{name}={text!r} is not a number of at least {minimum:g}; set it to a number like "
                         f"{default:g}, or unset it")
    return value


@dataclass(frozen=True)
class HttpPolicy:
    """The most time one request may take, attempts per operation and the most time one operation may take.

    ``CML_HTTP_TIMEOUT``, ``CML_HTTP_ATTEMPTS``, ``CML_HTTP_MAX_WAIT`` and ``CML_HTTP_BACKOFF`` override the defaults.
    """

    timeout: float = 30.0
    attempts: int = 5
    max_total_wait: float = 120.0
    backoff: float = 1.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> HttpPolicy:
        """The defaults, overridden by the ``CML_HTTP_*`` variables of ``environ`` (``os.environ`` when ``None``)."""
        env = os.environ if environ is None else environ
        return cls(
            timeout=_environment_number(env, "CML_HTTP_TIMEOUT", cls.timeout, 0.001),
            attempts=int(_environment_number(env, "CML_HTTP_ATTEMPTS", cls.attempts, 1)),
            max_total_wait=_environment_number(env, "CML_HTTP_MAX_WAIT", cls.max_total_wait, 0),
            backoff=_environment_number(env, "CML_HTTP_BACKOFF", cls.backoff, 0),
        )


@dataclass
class HttpFailure(Exception):
    """One failed attempt: status (None when no answer came), headers, message.

    ``sent`` is false only when the request certainly never reached the server (the connection was
    never made), which makes even a request that creates something safe to repeat.
    """

    status: int | None
    headers: Mapping[str, str]
    message: str
    sent: bool = True

    def __str__(self) -> str:
        return self.message


def cut(text: object, limit: int = MAX_ERROR_CHARACTERS) -> str:
    """``text`` on one line, at most ``limit`` characters (server text quoted in errors)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def is_rate_limited(failure: HttpFailure) -> bool:
    """A 429, or a 403 that GitHub sends for its primary (no requests remaining) or secondary rate limit."""
    if failure.status == 429:
        return True
    if failure.status == 403:
        return _header(failure.headers, "x-ratelimit-remaining") == "0" or "rate limit" in failure.message.lower()
    return False


def retry_delay(failure: HttpFailure, attempt: int, policy: HttpPolicy, now: float | None = None) -> float | None:
    """Seconds to wait before trying again, or ``None`` when the failure is not worth retrying."""
    if failure.status is None or failure.status in RETRYABLE_STATUS:
        return policy.backoff * 2 ** (attempt - 1)
    if not is_rate_limited(failure):
        return None
    retry_after = _header(failure.headers, "retry-after")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    reset = _header(failure.headers, "x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - (time.time() if now is None else now)) + 1.0
    backoff = policy.backoff * 2 ** (attempt - 1)
    # GitHub asks for at least a minute after a secondary rate limit (a 403) that names no time.
    return max(60.0, backoff) if failure.status == 403 else backoff


def service_error(failure: HttpFailure, service: str, action: str, retried: bool = True,
                  errors: ErrorKinds = SERVICE_ERRORS) -> ServiceError:
    """The cml error (of the family ``errors``) for a failure that retries could not fix, with a hint at the fix."""
    status = failure.status
    detail = cut(failure.message).rstrip(".")
    where = f"{service}: {action}"
    if status is None:
        return errors.unavailable(f"{where}: {detail}; check the API URL and the network, then rerun the job")
    if status == 401:
        return errors.auth(f"{where}: the token was rejected (401 {detail}); check that it is set and not expired")
    if is_rate_limited(failure):
        state = "still rate limited after retrying" if retried else "rate limited, and waiting would pass CML_HTTP_MAX_WAIT"
        return errors.rate_limit(f"{where}: {state} ({status} {detail}); rerun the job later")
    if status == 403:
        return errors.permission(f"{where}: the token lacks permission (403 {detail})")
    if status == 404:
        return errors.not_found(f"{where}: not found (404 {detail}); check the repository, number or sha and the token's access")
    if status in RETRYABLE_STATUS:
        state = "the server kept failing" if retried else "the server failed"
        return errors.unavailable(f"{where}: {state} ({status} {detail}); rerun the job later")
    return errors.request(f"{where}: the request was refused ({status} {detail})")


def call_with_retries(
    operation: Callable[[], T],
    describe: Callable[[BaseException], HttpFailure | None],
    policy: HttpPolicy,
    service: str,
    action: str,
    sleep: Callable[[float], None] = time.sleep,
    creates: bool = False,
    errors: ErrorKinds = SERVICE_ERRORS,
) -> T:
    """The policy's retry loop, which :func:`policy_session` runs around every request: run ``operation``;
    ``describe`` turns its exception into an :class:`HttpFailure` (or ``None`` for exceptions that are not
    HTTP failures, which pass through). A failure left after retrying is raised as ``errors`` says.

    With ``creates``, a failure after which the request may have taken effect (no answer, an unreadable
    answer, a server error) raises ``errors.outcome_unknown`` instead of repeating the request.
    """
    started = time.monotonic()
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except ServiceError:
            raise
        except TransportRefusal as refusal:
            raise errors.request(f"{service}: {action}: {refusal}") from None
        except Exception as error:  # noqa: BLE001 - the transport's exception is described, then replaced
            failure = describe(error)
            if failure is None:
                raise
        if creates and failure.sent and (failure.status is None or failure.status in UNCERTAIN_STATUS):
            raise outcome_unknown(failure, service, action, retried=False, errors=errors) from None
        delay = retry_delay(failure, attempt, policy)
        spent = max(time.monotonic() - started, waited)
        if delay is None or attempt >= policy.attempts or spent + delay + policy.timeout > policy.max_total_wait:
            raise service_error(failure, service, action, retried=attempt > 1, errors=errors) from None
        sleep(delay)
        waited += delay


def outcome_unknown(failure: HttpFailure, service: str, action: str, retried: bool,
                    errors: ErrorKinds = SERVICE_ERRORS) -> ServiceOutcomeUnknownError:
    """The error for a create request whose answer was lost or a server error: it may have taken effect."""
    return errors.outcome_unknown(f"{service_error(failure, service, action, retried)} "
                                  f"(it may or may not have been done)", failure, service, action)


def create_once(create: Callable[[], T], find: Callable[[], T | None], policy: HttpPolicy,
                sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``create`` (a request that is not repeated blindly); when its outcome is unknown, look with ``find``
    for what it may have created before trying again, within the policy's attempts and maximum wait."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return create()
        except ServiceOutcomeUnknownError as error:
            found = find()
            if found is not None:
                return found
            delay = policy.backoff * 2 ** (attempt - 1)
            if attempt >= policy.attempts or time.monotonic() - started + delay + policy.timeout > policy.max_total_wait:
                if not isinstance(error.failure, HttpFailure) or attempt == 1:
                    raise
                message = str(outcome_unknown(error.failure, error.service, error.action, retried=True))
                raise type(error)(message, error.failure, error.service, error.action) from None
            sleep(delay)


def proven_by(created: T, service: str, action: str, fields: Sequence[str],
              errors: ErrorKinds = SERVICE_ERRORS) -> T:
    """``created`` (an object or JSON document a create request answered) when the answer proves the creation:
    every one of ``fields`` is there (``id`` a number); otherwise ``errors.outcome_unknown``."""

    def field(name: str) -> object:
        return created.get(name) if isinstance(created, dict) else getattr(created, name, None)

    identifier = field(fields[0]) if fields else None
    if isinstance(identifier, int) and not isinstance(identifier, bool) and all(field(name) for name in fields[1:]):
        return created
    raise errors.outcome_unknown(f"{service}: {action}: the answer does not show what was created; "
                                 f"it may or may not have been done")


# -- what the current thread is doing, for the session's messages and its choice to retry ---------------------


@dataclass(frozen=True)
class Operation:
    """What requests are made for (``commenting on pr/7``), and whether a non-idempotent one may be repeated
    blindly (``repeatable``: a GraphQL query, a content-addressed blob, a token that is simply issued again)."""

    action: str
    repeatable: bool = False


_operations = threading.local()


@contextlib.contextmanager
def operation(action: str, repeatable: bool = False) -> Iterator[Operation]:
    """Name the requests the current thread makes in this block: errors say ``{service}: {action}: …``."""
    outer = getattr(_operations, "current", None)
    _operations.current = Operation(action, repeatable)
    try:
        yield _operations.current
    finally:
        _operations.current = outer


def current_operation() -> Operation | None:
    """The innermost :func:`operation` of this thread, if any."""
    return getattr(_operations, "current", None)


# -- the transport ------------------------------------------------------------------------------


def origin_of(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` with the scheme's default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def check_api_url(url: str, variable: str) -> str:
    """``url`` if it is an http(s) URL with a host; otherwise a one-line error naming ``variable``."""
    scheme, host, _ = origin_of(url or "")
    if scheme not in ("http", "https") or not host:
        raise UsageError(f"{variable}: {cut(url, 80)!r} is not an http(s) URL; set it to the API's address "
                         f"(https://HOST/…) or unset it")
    return url


class TransportRefusal(Exception):
    """The session refused to send a request or to read an answer; never retried."""


class CrossOriginError(TransportRefusal):
    """A request or redirect would carry credentials to another origin."""


class ResponseTooLargeError(TransportRefusal):
    """An answer was larger than :data:`MAX_RESPONSE_BYTES`."""


_current_deadline = threading.local()
_last_answer = threading.local()


def last_answer_status() -> int | None:
    """The status of the last answer a policy session read in this thread (for messages about its content)."""
    return getattr(_last_answer, "status", None)


def last_answer_method() -> str | None:
    """The method of the request whose answer a policy session read last in this thread."""
    return getattr(_last_answer, "method", None)


class _Deadline:
    """Shuts down the sockets of one request when its time is up, so a dripping server cannot hold it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._connections: list = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, connection) -> None:
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            self._shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            self._shut(connection)

    @staticmethod
    def _shut(connection) -> None:
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        _current_deadline.value = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _current_deadline.value = None


def _watched(connection_class: Any) -> Any:
    base: Any = connection_class

    class Watched(base):
        def request(self, *args, **kwargs):
            deadline = getattr(_current_deadline, "value", None)
            if deadline is not None:
                deadline.watch(self)
            return super().request(*args, **kwargs)

    Watched.__name__ = f"Watched{connection_class.__name__}"
    return Watched


def _policy_adapter():
    """A requests adapter whose connections are shut down when their request's deadline passes."""
    import requests.adapters
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection

    class HTTPPool(urllib3.HTTPConnectionPool):
        ConnectionCls = _watched(HTTPConnection)

    class HTTPSPool(urllib3.HTTPSConnectionPool):
        ConnectionCls = _watched(HTTPSConnection)

    class PolicyAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}

    return PolicyAdapter(max_retries=0)


def policy_session(base_url: str, policy: HttpPolicy, headers: Mapping[str, str] | None = None,
                   service: str = "", errors: ErrorKinds | None = None,
                   sleep: Callable[[float], None] = time.sleep):
    """A ``requests.Session`` bound to ``base_url``'s origin under ``policy`` (see the module's rules).

    With ``errors``, its ``send`` runs :func:`call_with_retries` around every request: failures are retried
    as the policy says and a failure left (an answer of 400 or more included) is raised as ``errors``,
    named ``{service}: {action}`` after the thread's :func:`operation`. Without, every request is sent once
    and answered as the server answered (for probes that read error answers themselves).
    """
    import requests

    class PolicySession(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.origin = origin_of(base_url)
            self.policy = policy
            self.service = service
            self.errors = errors
            self.sleep = sleep
            adapter = _policy_adapter()
            self.mount("http://", adapter)
            self.mount("https://", adapter)
            self.headers.update({"User-Agent": "cml", **(headers or {})})
            self.trust_env = True

        def _check_origin(self, url: str, what: str) -> None:
            if origin_of(url) != self.origin:
                scheme, host, port = origin_of(url)
                raise CrossOriginError(f"{what} {scheme}://{host}:{port}, another origin than the API's "
                                       f"({self.origin[0]}://{self.origin[1]}:{self.origin[2]}); refusing to send "
                                       f"the token there. Check the API URL; if the server moved, use its new address")

        def get_redirect_target(self, response):
            target = super().get_redirect_target(response)
            if target:
                self._check_origin(urljoin(response.url, target), f"{response.status_code} redirect to")
            return target

        def send(self, request, **kwargs):
            if getattr(_current_deadline, "value", None) is not None:  # a redirect, inside the first request's time
                self._check_origin(request.url, "a request to")
                return super().send(request, **{**kwargs, "stream": True})
            if self.errors is None:
                self._check_origin(request.url, "a request to")
                return self._send_once(request, kwargs)
            doing = current_operation() or Operation(f"{request.method} {urlsplit(request.url).path}")
            creates = str(request.method).upper() not in IDEMPOTENT_METHODS and not doing.repeatable

            def attempt():
                self._check_origin(request.url, "a request to")
                response = self._send_once(request, kwargs)
                if response.status_code >= 400:
                    if not response._content_consumed:
                        _read_bounded(response)
                    raise HttpFailure(response.status_code, dict(response.headers), _error_message(response))
                return response

            return call_with_retries(attempt, describe_requests_failure, self.policy, self.service, doing.action,
                                     self.sleep, creates, self.errors)

        def _send_once(self, request, kwargs):
            """One attempt, within the policy's time for a whole request, its body read unless streamed."""
            options = dict(kwargs)
            stream = options.pop("stream", False)
            options["timeout"] = options.get("timeout") or self.policy.timeout
            with _Deadline(self.policy.timeout) as deadline:
                try:
                    response = super().send(request, stream=True, **options)
                    _last_answer.status, _last_answer.method = response.status_code, str(request.method).upper()
                    if not stream:
                        _read_bounded(response)
                except requests.RequestException:
                    if deadline.expired:
                        raise requests.Timeout(f"no complete answer within CML_HTTP_TIMEOUT={self.policy.timeout:g} s",
                                               request=request) from None
                    raise
            return response

    return PolicySession()


def _read_bounded(response) -> None:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        response.close()
        raise ResponseTooLargeError(f"the answer from {urlsplit(response.url).netloc} is {int(length):,} bytes, more "
                                    f"than the {MAX_RESPONSE_BYTES:,} cml reads; check the API URL")
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            response.close()
            raise ResponseTooLargeError(f"the answer from {urlsplit(response.url).netloc} is larger than the "
                                        f"{MAX_RESPONSE_BYTES:,} bytes cml reads; check the API URL")
        chunks.append(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True


class JsonApi:
    """A policy session bound to one API base, for the servers that have no maintained client library
    (Bitbucket, Gitea, MLflow, the asset server); its failures are raised as ``errors``."""

    def __init__(self, base_url: str, headers: Mapping[str, str], policy: HttpPolicy, service: str,
                 errors: ErrorKinds = SERVICE_ERRORS):
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.service = service
        self.errors = errors
        self.session = policy_session(self.base_url, policy, {"Accept": "application/json", **headers},
                                      service=service, errors=errors)

    def url(self, path: str) -> str:
        """``path`` under the API base (an absolute URL, such as a next-page link, as it is)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, action: str, **kwargs):
        """Send one request for ``action`` (retried by the session under the policy; a POST only when it certainly
        was not processed); returns the ``requests.Response``."""
        with operation(action):
            return self.session.request(method, self.url(path), timeout=self.policy.timeout, **kwargs)

    def json(self, method: str, path: str, action: str, **kwargs):
        """The JSON answer (``None`` for an empty one); an answer that is not JSON is an error naming the action."""
        response = self.request(method, path, action, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise self.errors.request(f"{self.service}: {action}: the answer ({response.status_code}, "
                                      f"{cut(kind, 60)}) is not JSON; check the API URL") from None

    def pages_by_link(self, path: str, action: str, params: Mapping[str, object] | None = None) -> list:
        """Items of every page, following ``Link: <…>; rel="next"`` headers."""
        items: list = []
        url: str | None = path
        query = dict(params or {})
        while url:
            response = self.request("GET", url, action, params=query)
            page = self._json_list(response, action)
            items.extend(page)
            url = response.links.get("next", {}).get("url")
            query = {}
        return items

    def _json_list(self, response, action: str) -> list:
        try:
            page = response.json() if response.content else []
        except ValueError:
            page = None
        if not isinstance(page, list):
            raise self.errors.request(f"{self.service}: {action}: the answer ({response.status_code}) is not a "
                                      f"JSON list; check the API URL")
        return page


def _error_message(response) -> str:
    """The server's own words for a failure: ``message`` (GitHub, GitLab, Gitea), ``error.message`` (Bitbucket),
    ``error`` (GitLab), with GitHub's validation ``errors`` after a colon."""
    try:
        document = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"
    if not isinstance(document, dict):
        return response.reason or f"HTTP {response.status_code}"
    error = document.get("error")
    if isinstance(error, dict):
        return cut(error.get("message") or error)
    message = cut(document.get("message") or error or response.reason or f"HTTP {response.status_code}")
    details = document.get("errors")
    if isinstance(details, list) and details:
        reasons = [d.get("message") or d.get("code") for d in details if isinstance(d, dict)]
        message = cut(message + ": " + "; ".join(str(reason) for reason in reasons if reason))
    return message


def describe_requests_failure(error: BaseException) -> HttpFailure | None:
    """requests' transport errors as an :class:`HttpFailure` (``sent`` false when no connection was made)."""
    import requests

    if isinstance(error, HttpFailure):
        return error
    if isinstance(error, requests.ConnectTimeout) or (
            isinstance(error, requests.ConnectionError) and _never_connected(error)):
        return HttpFailure(None, {}, f"could not connect ({type(error).__name__})", sent=False)
    if isinstance(error, requests.Timeout):
        return HttpFailure(None, {}, cut(str(error)) if "CML_HTTP_TIMEOUT" in str(error) else "timed out")
    if isinstance(error, requests.RequestException):
        return HttpFailure(None, {}, f"the connection broke or the answer was unreadable ({type(error).__name__})")
    return None


def _never_connected(error: BaseException) -> bool:
    """True when the chain of causes shows the connection was refused or could not be made."""
    import urllib3.exceptions

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionRefusedError, urllib3.exceptions.NewConnectionError,
                             urllib3.exceptions.NameResolutionError)):
            return True
        reason = getattr(seen, "reason", None)
        seen = reason if isinstance(reason, BaseException) and reason is not seen else (
            seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None)
    return False
