"""The shared HTTP policy: what is retried, how long it waits, and the errors left after retrying."""

import pytest

from cml.forges.errors import FORGE_ERRORS, ForgeAuthError, ForgeRateLimitError, ForgeUnavailableError
from cml.http import HttpFailure, HttpPolicy, call_with_retries, retry_delay

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
                                 "doing it", sleep=sleeps.append, errors=FORGE_ERRORS), sleeps
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


def test_a_create_is_repeated_only_when_it_certainly_did_not_arrive():
    from cml.forges.errors import ForgeOutcomeUnknownError

    def attempt(failure):
        calls = []

        def operation():
            calls.append(1)
            if len(calls) == 1:
                raise failure
            return "created"

        try:
            return call_with_retries(operation, lambda e: e, POLICY, "Forge", "creating", sleep=lambda s: None,
                                     creates=True, errors=FORGE_ERRORS), len(calls)
        except ForgeOutcomeUnknownError as error:
            return str(error), len(calls)

    assert attempt(HttpFailure(None, {}, "could not connect", sent=False)) == ("created", 2)
    assert attempt(HttpFailure(503, {}, "Service Unavailable")) == ("created", 2)
    assert attempt(HttpFailure(429, {"Retry-After": "1"}, "slow down")) == ("created", 2)
    for uncertain in (HttpFailure(None, {}, "timed out"), HttpFailure(502, {}, "Bad Gateway")):
        message, calls = attempt(uncertain)
        assert calls == 1 and message.endswith("(it may or may not have been done)")


def test_create_once_looks_before_trying_again():
    from cml.forges.errors import ForgeOutcomeUnknownError
    from cml.http import create_once

    log = []

    def create():
        log.append("create")
        raise ForgeOutcomeUnknownError("lost")

    def find():
        log.append("find")
        return "found" if log.count("find") == 2 else None

    assert create_once(create, find, POLICY, sleep=lambda s: log.append("sleep")) == "found"
    assert log == ["create", "find", "sleep", "create", "find"]


def test_an_operation_never_outlasts_the_maximum_wait():
    policy = HttpPolicy(timeout=10, attempts=10, max_total_wait=25, backoff=1)
    error, sleeps = run([HttpFailure(None, {}, "timed out")] * 10, policy)
    assert isinstance(error, ForgeUnavailableError) and sleeps == [1, 2, 4, 8]  # the next would pass 25 s


def test_server_text_in_errors_is_cut():
    from cml.http import MAX_ERROR_CHARACTERS, service_error

    message = str(service_error(HttpFailure(422, {}, "x" * 10**6 + "\n" * 1000), "Forge", "doing it"))
    assert len(message) < MAX_ERROR_CHARACTERS + 100 and "\n" not in message


# -- the policy session: the same rules, applied once per client in its ``send`` ------------------------------


class Echo:
    """Answers every request with 201 and the JSON ``{"id": 1}``."""

    def handle(self, request):
        from tests.fakes.server import Response

        return Response(201, {"id": 1})


def session_for(server, errors, **policy):
    from cml.http import policy_session

    return policy_session(server.url, HttpPolicy(**{"timeout": 5, "attempts": 3, "backoff": 0, **policy}),
                          service="Server", errors=errors, sleep=lambda seconds: None)


def test_the_session_retries_transient_failures_itself():
    from tests.fakes.server import FakeForgeServer

    with FakeForgeServer(Echo()) as server:
        server.fail("GET", r"/thing$", status=503, times=2)
        response = session_for(server, FORGE_ERRORS).get(f"{server.url}/thing")
        assert response.status_code == 201 and server.count("GET") == 3


def test_the_session_names_the_operation_and_raises_its_error_family():
    from cml.errors import ServiceNotFoundError
    from cml.forges.errors import ForgeError, ForgeNotFoundError
    from cml.http import SERVICE_ERRORS, operation
    from tests.fakes.server import FakeForgeServer

    with FakeForgeServer(Echo()) as server:
        server.fail("GET", r"/thing$", status=404, body={"message": "Not Found"}, times=2)
        with operation("reading the thing"), pytest.raises(ForgeNotFoundError) as forge_error:
            session_for(server, FORGE_ERRORS).get(f"{server.url}/thing")
        with operation("reading the thing"), pytest.raises(ServiceNotFoundError) as plain_error:
            session_for(server, SERVICE_ERRORS).get(f"{server.url}/thing")
    assert str(forge_error.value).startswith("Server: reading the thing: not found (404 Not Found)")
    assert str(plain_error.value) == str(forge_error.value) and not isinstance(plain_error.value, ForgeError)
    assert server.count("GET") == 2  # a 404 is not retried


def test_the_session_does_not_repeat_a_post_whose_outcome_is_unknown():
    from cml.forges.errors import ForgeOutcomeUnknownError
    from cml.http import operation
    from tests.fakes.server import FakeForgeServer

    with FakeForgeServer(Echo()) as server:
        server.fail("POST", r"/things$", status=502, times=1)
        with operation("creating a thing"), pytest.raises(ForgeOutcomeUnknownError):
            session_for(server, FORGE_ERRORS).post(f"{server.url}/things", json={})
        assert server.count("POST") == 1
        server.fail("POST", r"/things$", status=429, headers={"Retry-After": "0"}, times=1)
        with operation("creating a thing"):
            assert session_for(server, FORGE_ERRORS).post(f"{server.url}/things", json={}).status_code == 201
        assert server.count("POST") == 3  # a refused (429) request was not processed: it is sent again
