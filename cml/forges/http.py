"""One HTTP policy for every forge: time-outs, retries, rate limits, a bound on waiting.

Retried: 5xx, 429, GitHub's primary and secondary rate limits (403 with
``x-ratelimit-remaining: 0`` or a "secondary rate limit" message), time-outs and
broken connections. The wait honours ``Retry-After`` and ``x-ratelimit-reset``,
else backs off exponentially; the total wait never exceeds the policy's bound.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Mapping, TypeVar

from cml.forges.errors import (
    ForgeAuthError,
    ForgeError,
    ForgeNotFoundError,
    ForgePermissionError,
    ForgeRateLimitError,
    ForgeRequestError,
    ForgeUnavailableError,
)

T = TypeVar("T")
RETRYABLE_STATUS = {500, 502, 503, 504}


@dataclass(frozen=True)
class HttpPolicy:
    """Time-out per request, attempts per operation and the most time spent waiting between them.

    ``CML_HTTP_TIMEOUT``, ``CML_HTTP_ATTEMPTS`` and ``CML_HTTP_MAX_WAIT`` override the defaults.
    """

    timeout: float = 30.0
    attempts: int = 5
    max_total_wait: float = 120.0
    backoff: float = 1.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> "HttpPolicy":
        env = os.environ if environ is None else environ
        return cls(
            timeout=float(env.get("CML_HTTP_TIMEOUT", cls.timeout)),
            attempts=max(1, int(env.get("CML_HTTP_ATTEMPTS", cls.attempts))),
            max_total_wait=float(env.get("CML_HTTP_MAX_WAIT", cls.max_total_wait)),
            backoff=float(env.get("CML_HTTP_BACKOFF", cls.backoff)),
        )


@dataclass
class HttpFailure(Exception):
    """What an adapter saw when a request failed: status (None for a connection problem), headers, message."""

    status: int | None
    headers: Mapping[str, str]
    message: str

    def __str__(self) -> str:
        return self.message


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def is_rate_limited(failure: HttpFailure) -> bool:
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


def to_forge_error(failure: HttpFailure, forge: str, action: str) -> ForgeError:
    """The cml error for a failure that retries could not fix, with a hint at the fix."""
    status = failure.status
    detail = failure.message.strip().rstrip(".")
    where = f"{forge}: {action}"
    if status is None:
        return ForgeUnavailableError(f"{where}: {detail}; check the API URL and the network, then rerun the job")
    if status == 401:
        return ForgeAuthError(f"{where}: the token was rejected (401 {detail}); check that it is set and not expired")
    if is_rate_limited(failure):
        return ForgeRateLimitError(f"{where}: still rate limited after retrying ({status} {detail}); rerun the job later")
    if status == 403:
        return ForgePermissionError(f"{where}: the token lacks permission (403 {detail})")
    if status == 404:
        return ForgeNotFoundError(f"{where}: not found (404 {detail}); check the repository, number or sha and the token's access")
    if status in RETRYABLE_STATUS:
        return ForgeUnavailableError(f"{where}: the server kept failing ({status} {detail}); rerun the job later")
    return ForgeRequestError(f"{where}: the request was refused ({status} {detail})")


def call_with_retries(
    operation: Callable[[], T],
    describe: Callable[[BaseException], HttpFailure | None],
    policy: HttpPolicy,
    forge: str,
    action: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation`` under ``policy``; ``describe`` turns a client library's exception into an
    :class:`HttpFailure` (or ``None`` for exceptions that are not HTTP failures)."""
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except ForgeError:
            raise
        except Exception as error:  # noqa: BLE001 - the client's exception is described, then replaced
            failure = describe(error)
            if failure is None:
                raise
        delay = retry_delay(failure, attempt, policy)
        if delay is None or attempt >= policy.attempts or waited + delay > policy.max_total_wait:
            raise to_forge_error(failure, forge, action) from None
        sleep(delay)
        waited += delay


class JsonApi:
    """A requests session bound to one API base, under the shared :class:`HttpPolicy`.

    Used by the adapters that have no maintained client library (Bitbucket, Gitea).
    """

    def __init__(self, base_url: str, headers: Mapping[str, str], policy: HttpPolicy, forge: str):
        import requests

        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self.forge = forge
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "cml", **headers})

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, action: str, **kwargs):
        """Send one request (retried under the policy); returns the ``requests.Response``."""

        def send():
            response = self.session.request(method, self.url(path), timeout=self.policy.timeout, **kwargs)
            if response.status_code >= 400:
                raise HttpFailure(response.status_code, dict(response.headers), _error_message(response))
            return response

        return call_with_retries(send, describe_requests_failure, self.policy, self.forge, action)

    def json(self, method: str, path: str, action: str, **kwargs):
        response = self.request(method, path, action, **kwargs)
        return response.json() if response.content else None

    def pages_by_link(self, path: str, action: str, params: Mapping[str, object] | None = None) -> list:
        """Items of every page, following ``Link: <…>; rel="next"`` headers."""
        items: list = []
        url: str | None = path
        query = dict(params or {})
        while url:
            response = self.request("GET", url, action, params=query)
            items.extend(response.json() or [])
            url = response.links.get("next", {}).get("url")
            query = {}
        return items


def _error_message(response) -> str:
    try:
        document = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(document.get("message") or error or response.reason)
    return response.reason or f"HTTP {response.status_code}"


def describe_requests_failure(error: BaseException) -> HttpFailure | None:
    """requests' connection errors and time-outs as an :class:`HttpFailure`; HTTP errors pass through."""
    import requests

    if isinstance(error, HttpFailure):
        return error
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        kind = "timed out" if isinstance(error, requests.Timeout) else "connection failed"
        return HttpFailure(None, {}, f"{kind} ({type(error).__name__})")
    return None
