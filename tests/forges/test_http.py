"""The shared HTTP policy: what is retried, how long it waits, and the errors left after retrying."""

import pytest

from cml.forges.errors import ForgeAuthError, ForgeRateLimitError, ForgeUnavailableError
from cml.forges.http import HttpFailure, HttpPolicy, call_with_retries, retry_delay

POLICY = HttpPolicy(timeout=5, attempts=4, max_total_wait=30, backoff=1)


@pytest.mark.parametrize(
    "failure, attempt, delay",
    [
        (HttpFailure(502, {}, "Bad Gateway"), 1, 1.0),
        (HttpFailure(503, {}, "x"), 3, 4.0),
        (HttpFailure(None, {}, "connection reset"), 2, 2.0),
        (HttpFailure(429, {"Retry-After": "7"}, "slow down"), 1, 7.0),
        (HttpFailure(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000"}, "API rate limit"), 1, 11.0),
        (HttpFailure(403, {}, "You have exceeded a secondary rate limit"), 1, 60.0),
        (HttpFailure(429, {}, "Too Many Requests"), 2, 2.0),
        (HttpFailure(403, {}, "Resource not accessible by integration"), 1, None),
        (HttpFailure(404, {}, "Not Found"), 1, None),
        (HttpFailure(422, {}, "Body is too long"), 1, None),
    ],
)
def test_retry_delay(failure, attempt, delay):
    assert retry_delay(failure, attempt, POLICY, now=990) == delay


def run(failures, policy=POLICY):
    sleeps = []
    queue = list(failures)

    def operation():
        if queue:
            raise queue.pop(0)
        return "done"

    try:
        return call_with_retries(operation, lambda e: e if isinstance(e, HttpFailure) else None, policy, "Forge",
                                 "doing it", sleep=sleeps.append), sleeps
    except Exception as error:  # noqa: BLE001
        return error, sleeps


def test_transient_failures_then_success():
    assert run([HttpFailure(500, {}, "a"), HttpFailure(None, {}, "b")]) == ("done", [1.0, 2.0])


def test_attempts_are_bounded():
    error, sleeps = run([HttpFailure(502, {}, "Bad Gateway")] * 10)
    assert isinstance(error, ForgeUnavailableError) and sleeps == [1.0, 2.0, 4.0]
    assert str(error) == "Forge: doing it: the server kept failing (502 Bad Gateway); rerun the job later"


def test_total_wait_is_bounded():
    error, sleeps = run([HttpFailure(429, {"Retry-After": "3600"}, "Too Many Requests")])
    assert isinstance(error, ForgeRateLimitError) and sleeps == []


def test_client_errors_are_not_retried():
    error, sleeps = run([HttpFailure(401, {}, "Bad credentials")])
    assert isinstance(error, ForgeAuthError) and sleeps == []


def test_other_exceptions_pass_through():
    def operation():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(operation, lambda e: None, POLICY, "Forge", "x", sleep=lambda s: None)
