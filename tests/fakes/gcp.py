"""Compute Engine on loopback: a stateful fake of the v1 REST API, its OAuth token endpoint, and VMs that boot.

:class:`FakeCompute` keeps instances and zone operations as Compute Engine does: an insert answers
with a ``PENDING`` operation that is ``DONE`` a moment later, the instance moves ``PROVISIONING`` →
``STAGING`` → ``RUNNING``; a delete moves it to ``STOPPING`` and then it is gone. A repeated
``requestId`` returns the first operation (no second instance); ``scheduling.maxRunDuration`` is
enforced (``runtime_scale`` shrinks it for tests); the ``filter`` of ``list``/``aggregatedList`` is
evaluated as Compute Engine's filter language.

Every request is checked against Google's discovery document for compute v1 (shipped in
google-api-python-client, used here as test data): the method must exist for the path, its
required parameters be present, query parameters be declared and typed, and the body match the
request schema field by field, recursively. A mismatch is answered 400 and recorded in
:attr:`FakeCompute.violations`; the ``gcp`` fixture fails the test when any is left.

:class:`ComputeServer` serves it on 127.0.0.1 together with ``/token``, the OAuth token endpoint a
service-account credentials file written by :func:`write_credentials` points at; faults
(``fail``) make the Nth request of a kind answer 500/503, stall past the client's time-out, or
finish its operation with ``ZONE_RESOURCE_POOL_EXHAUSTED``.

:class:`GcpFleet` plays the VMs: when an instance reaches ``RUNNING`` it boots the instance's
``startup-script`` metadata in a :class:`tests.fakes.machine.Machine` sandbox whose metadata server
answers as Google's does for that instance, brings the runner online on the fake forge with the
material the script hands the runner, and turns a power-off into ``TERMINATED``.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import glob
import itertools
import json
import os
import re
import secrets
import shlex
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.fakes.machine import Machine, sandboxed
from tests.fakes.server import LoopbackServer, write_response

PROJECT = "cml-test-project"
PROJECT_NUMBER = "123456789012"
SERVICE_ACCOUNT = f"cml-runner@{PROJECT}.iam.gserviceaccount.com"
API = "/compute/v1"
ZONES = ("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f", "us-east1-b", "us-east1-c",
         "us-east1-d", "us-west1-a", "us-west1-b", "us-west1-c", "europe-north1-a", "europe-west1-b",
         "europe-west1-d", "europe-west4-a", "asia-east1-a")
#: Machine types by name: (vCPUs, memory MB, GPU model built in or "").
MACHINE_TYPES = {
    **{f"e2-standard-{n}": (n, n * 4096, "") for n in (2, 4, 8, 16, 32)},
    **{f"n1-standard-{n}": (n, n * 3840, "") for n in (1, 2, 4, 8, 16, 32, 64, 96)},
    **{f"n2-standard-{n}": (n, n * 4096, "") for n in (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)},
    **{f"g2-standard-{n}": (n, n * 4096, "nvidia-l4") for n in (4, 8, 12, 16, 24, 32, 48, 96)},
    **{f"a2-highgpu-{n}g": (n * 12, n * 87040, "nvidia-tesla-a100") for n in (1, 2, 4, 8)},
    **{f"a2-ultragpu-{n}g": (n * 12, n * 174080, "nvidia-a100-80gb") for n in (1, 2, 4, 8)},
    **{f"a3-highgpu-{n}g": (n * 26, n * 239616, "nvidia-h100-80gb") for n in (1, 2, 4, 8)},
}
#: Custom machine types (``custom-8-53248`` is N1; ``-ext``: extended memory).
CUSTOM_TYPE = re.compile(r"(?:(?:e2|n2|n2d|n1)-)?custom-(?P<cpus>\d+)-(?P<memory>\d+)(?:-ext)?")
ACCELERATOR_TYPES = ("nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p100", "nvidia-tesla-p4",
                     "nvidia-tesla-k80", "nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb")
#: Public image families: project → family → image name.
IMAGE_FAMILIES = {
    "ubuntu-os-cloud": {"ubuntu-2404-lts-amd64": "ubuntu-2404-noble-amd64-v20261115",
                        "ubuntu-2404-lts-arm64": "ubuntu-2404-noble-arm64-v20261115",
                        "ubuntu-2204-lts": "ubuntu-2204-jammy-v20261115"},
    "ubuntu-os-accelerator-images": {
        "ubuntu-accelerator-2404-amd64-with-nvidia-570": "ubuntu-accelerator-2404-amd64-with-nvidia-570-v20261110",
        "ubuntu-accelerator-2204-amd64-with-nvidia-570": "ubuntu-accelerator-2204-amd64-with-nvidia-570-v20261110"},
    "deeplearning-platform-release": {
        "common-cu124-ubuntu-2204-py310": "common-cu124-v20261101-ubuntu-2204-py310",
        "common-cu128-ubuntu-2204-nvidia-570": "common-cu128-v20261101-ubuntu-2204-nvidia-570",
        "common-cpu": "common-cpu-v20261101-debian-11"},
    "cos-cloud": {"cos-stable": "cos-stable-117-18613-75-37"},
    "debian-cloud": {"debian-12": "debian-12-bookworm-v20261110"},
}
#: Query parameters every Google API takes (https://cloud.google.com/apis/docs/system-parameters),
#: spelled as the client libraries send them.
SYSTEM_PARAMETERS = {"$alt", "$fields", "$prettyPrint", "$callback", "$.xgafv", "$outputDefaults", "$unique"}
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
RESOURCE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
METADATA_KEY = re.compile(r"[a-zA-Z0-9_-]{1,128}")
METADATA_LIMIT = 512 * 1024
METADATA_VALUE_LIMIT = 256 * 1024
DISCOVERY_GLOB = "googleapiclient/discovery_cache/documents/compute.v1.json"


def machine_type_info(name: str) -> tuple[int, int, str] | None:
    """(vCPUs, memory MB, built-in GPU or "") of a machine type Compute Engine has, else ``None``."""
    custom = CUSTOM_TYPE.fullmatch(name)
    if custom:
        return int(custom["cpus"]), int(custom["memory"]), ""
    return MACHINE_TYPES.get(name)


def discovery_path() -> str:
    """compute.v1.json as google-api-python-client ships it."""
    import googleapiclient

    found = glob.glob(os.path.join(os.path.dirname(os.path.dirname(googleapiclient.__file__)), DISCOVERY_GLOB))
    assert found, "google-api-python-client's compute.v1.json is missing"
    return found[0]


# -- the discovery document ---------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    id: str  # compute.instances.insert
    http_method: str
    pattern: re.Pattern
    template: str
    method: dict


class ComputeDiscovery:
    """What compute v1 accepts, read from Google's discovery document."""

    def __init__(self, path: str | None = None):
        with open(path or discovery_path(), encoding="utf-8") as handle:
            self.document = json.load(handle)
        self.schemas = self.document["schemas"]
        self.global_parameters = self.document["parameters"]
        self.routes: list[Route] = []
        self._collect(self.document.get("resources", {}))

    def _collect(self, resources: dict) -> None:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                template = "/" + self.document["servicePath"] + method.get("flatPath", method["path"])
                pattern = re.compile("^" + re.sub(r"\\\{\+?([^}]+)\\\}", "(?P<\\1>[^/]+)", re.escape(template)) + "$")
                self.routes.append(Route(method["id"], method["httpMethod"], pattern, template, method))
            self._collect(resource.get("resources", {}))

    def route(self, http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The method serving ``http_method path`` (literal segments beat parameters), with its path parameters."""
        found = [(route, match.groupdict()) for route in self.routes if route.http_method == http_method
                 for match in [route.pattern.match(path)] if match]
        if not found:
            return None
        return max(found, key=lambda item: len(re.sub(r"\{[^}]+\}", "", item[0].template)))

    def problems(self, http_method: str, path: str, query: dict[str, list[str]], body: bytes) -> list[str]:
        """Everything about this request the discovery document does not allow."""
        found = self.route(http_method, path)
        if found is None:
            return [f"{http_method} {path}: no such method in compute v1"]
        route, path_parameters = found
        where = f"{route.id}"
        problems = []
        parameters = route.method.get("parameters", {})
        for name, values in query.items():
            if name in SYSTEM_PARAMETERS:
                continue
            declared = parameters.get(name) or self.global_parameters.get(name)
            if declared is None or declared.get("location") != "query":
                problems.append(f"{where}: undeclared query parameter '{name}'")
                continue
            if len(values) > 1 and not declared.get("repeated"):
                problems.append(f"{where}: query parameter '{name}' given {len(values)} times")
            for value in values:
                problems += self._parameter(where, name, declared, value)
        for name, declared in parameters.items():
            if declared.get("location") == "path":
                problems += self._parameter(where, name, declared, path_parameters.get(name, ""))
            elif declared.get("required") and name not in query:
                problems.append(f"{where}: missing required query parameter '{name}'")
        request = route.method.get("request")
        if body and not request:
            problems.append(f"{where}: sends a body the method does not take")
        if request:
            if not body:
                problems.append(f"{where}: missing the {request['$ref']} body")
            else:
                try:
                    document = json.loads(body)
                except ValueError:
                    return problems + [f"{where}: body is not JSON"]
                problems += self.value_problems(f"{where} body", {"$ref": request["$ref"]}, document)
        return problems

    @staticmethod
    def _parameter(where: str, name: str, declared: dict, value: str) -> list[str]:
        kind, form = declared.get("type"), declared.get("format")
        if declared.get("required") and value == "":
            return [f"{where}: required parameter '{name}' is empty"]
        if "pattern" in declared and not re.fullmatch(declared["pattern"], value):
            return [f"{where}: parameter '{name}'={value!r} does not match {declared['pattern']}"]
        numeric = kind == "integer" or form in ("int64", "uint64", "int32", "uint32")
        if numeric and not re.fullmatch(r"-?\d+", value):
            return [f"{where}: parameter '{name}'={value!r} is not an integer"]
        if kind == "boolean" and value not in ("true", "false"):
            return [f"{where}: parameter '{name}'={value!r} is not true or false"]
        if "enum" in declared and value not in declared["enum"]:
            return [f"{where}: parameter '{name}'={value!r} is not one of {declared['enum']}"]
        return []

    def value_problems(self, where: str, schema: dict, value) -> list[str]:
        """``value`` against a schema of the document: unknown fields, wrong types and enum values, recursively."""
        if "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                return [f"{where}: {type(value).__name__} where an object belongs"]
            problems = []
            properties = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in properties:
                    problems += self.value_problems(f"{where}.{key}", properties[key], item)
                elif extra is not None:
                    problems += self.value_problems(f"{where}[{key!r}]", extra, item)
                else:
                    problems.append(f"{where}: unknown field '{key}' ({schema.get('id', 'object')})")
            return problems
        if kind == "array":
            if not isinstance(value, list):
                return [f"{where}: {type(value).__name__} where an array belongs"]
            return [problem for index, item in enumerate(value)
                    for problem in self.value_problems(f"{where}[{index}]", schema.get("items", {}), item)]
        if kind == "string":
            if not isinstance(value, str):
                return [f"{where}: {value!r} is not a string"]
            form = schema.get("format")
            if form in ("int64", "uint64") and not re.fullmatch(r"-?\d+", value):
                return [f"{where}: {value!r} is not a {form} (a string of digits)"]
            if form == "byte":
                try:
                    base64.b64decode(value, validate=True)
                except ValueError:
                    return [f"{where}: {value!r} is not base64"]
            if "enum" in schema and value not in schema["enum"]:
                return [f"{where}: {value!r} is not one of {schema['enum']}"]
            return []
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return [f"{where}: {value!r} is not an integer"]
            return []
        if kind == "number":
            return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [
                f"{where}: {value!r} is not a number"]
        if kind == "boolean":
            return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
        return []


# -- Compute Engine's filter language -----------------------------------------------------------

FILTER_TOKEN = re.compile(r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<quoted>"(?:[^"\\]|\\.)*")|'
                          r'(?P<op>!=|=|:|<=|>=|<|>)|(?P<word>[^\s()=!:<>"]+))')


class FilterError(ValueError):
    """Not a filter Compute Engine accepts."""


def parse_filter(text: str):
    """A predicate over an instance's JSON for ``text``: comparisons ``field op value`` (``=`` with ``*``
    wildcards, ``!=``, ``:`` (has; ``:*`` is "has the field"), ``eq``/``ne`` (regular expressions)),
    ``AND``/``OR``/``NOT`` or juxtaposition (AND), and parentheses."""
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = FILTER_TOKEN.match(text, position)
        if not match:
            raise FilterError(f"cannot read the filter at {text[position:]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        tokens.append((kind, json.loads(value) if kind == "quoted" else value))
        position = match.end()
    parser = _FilterParser(tokens)
    predicate = parser.expression()
    if parser.index != len(tokens):
        raise FilterError(f"unexpected {tokens[parser.index][1]!r} in the filter")
    return predicate


def _field(resource: dict, path: str):
    value = resource
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class _FilterParser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    def _peek(self):
        return self.tokens[self.index] if self.index < len(self.tokens) else (None, None)

    def _take(self):
        token = self._peek()
        self.index += 1
        return token

    def expression(self):
        terms = [self._conjunction()]
        while self._peek() == ("word", "OR"):
            self._take()
            terms.append(self._conjunction())
        return terms[0] if len(terms) == 1 else (lambda r, ts=tuple(terms): any(t(r) for t in ts))

    def _conjunction(self):
        terms = [self._unary()]
        while self._peek()[0] in ("word", "open") and self._peek() != ("word", "OR"):
            if self._peek() == ("word", "AND"):
                self._take()
            terms.append(self._unary())
        return terms[0] if len(terms) == 1 else (lambda r, ts=tuple(terms): all(t(r) for t in ts))

    def _unary(self):
        kind, value = self._peek()
        if (kind, value) == ("word", "NOT") or (kind == "word" and value == "-"):
            self._take()
            inner = self._unary()
            return lambda r: not inner(r)
        if kind == "open":
            self._take()
            inner = self.expression()
            if self._take()[0] != "close":
                raise FilterError("unbalanced parentheses in the filter")
            return inner
        return self._comparison()

    def _comparison(self):
        kind, name = self._take()
        if kind != "word":
            raise FilterError(f"expected a field name, not {name!r}")
        op_kind, op = self._take()
        if op_kind == "word" and op in ("eq", "ne"):
            value_kind, value = self._take()
            if value_kind not in ("word", "quoted"):
                raise FilterError(f"expected a value after {name} {op}")
            pattern = re.compile(value)
            wanted = op == "eq"
            return lambda r: (pattern.fullmatch(str(_field(r, name) or "")) is not None) == wanted
        if op_kind != "op":
            raise FilterError(f"expected a comparison after {name!r}")
        value_kind, value = self._take()
        if value_kind not in ("word", "quoted"):
            raise FilterError(f"expected a value after {name} {op}")
        if op == ":":
            if value == "*":
                return lambda r: _field(r, name) is not None
            return lambda r: value.lower() in str(_field(r, name) or "").lower()
        if op in ("=", "!="):
            def equal(r):
                return _field(r, name) is not None and fnmatch.fnmatchcase(_scalar(_field(r, name)), value)

            return equal if op == "=" else (lambda r: not equal(r))
        raise FilterError(f"the fake does not compare with {op}")


def _scalar(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# -- the fake Compute Engine --------------------------------------------------------------------


@dataclass
class ComputeFault:
    """The ``nth`` request of ``kind`` from now (``instances.insert``, ``zoneOperations.get``, ``token`` …),
    ``times`` in a row: answered with ``status`` (and ``reason``), stalled ``delay`` seconds, or (``capacity``)
    accepted and then failed in its operation with ``ZONE_RESOURCE_POOL_EXHAUSTED``. ``after``: the request
    takes effect first, then its answer is replaced (a lost answer)."""

    kind: str
    nth: int = 1
    times: int = 1
    status: int | None = None
    reason: str = "backendError"
    message: str = "Internal error. Please try again or contact Google Support."
    delay: float = 0.0
    capacity: bool = False
    after: bool = False
    seen: int = 0


@dataclass
class Response:
    status: int
    body: object = None
    headers: dict = field(default_factory=dict)


def google_error(status: int, message: str, reason: str, domain: str = "global") -> Response:
    """An error answer as Google APIs send it."""
    statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
    return Response(status, {"error": {"code": status, "message": message, "status": statuses.get(status, "UNKNOWN"),
                                       "errors": [{"message": message, "domain": domain, "reason": reason}]}})


def timestamp(at: float) -> str:
    """RFC 3339 in Google's style (milliseconds and a numeric offset)."""
    moment = datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}-00:00"


class FakeCompute:
    """Instances and zone operations of one project; see the module docstring.

    ``step_seconds`` is how long each state lasts (operation PENDING/RUNNING, instance PROVISIONING/STAGING,
    STOPPING); ``runtime_scale`` multiplies ``maxRunDuration`` (1/3600: an hour lasts a second)."""

    def __init__(self, discovery: ComputeDiscovery, project: str = PROJECT, step_seconds: float = 0.1,
                 runtime_scale: float = 1.0):
        self.discovery = discovery
        self.project = project
        self.step_seconds = step_seconds
        self.runtime_scale = runtime_scale
        self.base_url = ""
        self.instances: dict[tuple[str, str], dict] = {}
        self.deleted: list[dict] = []  # every instance once gone, as it last was
        self.operations: dict[str, dict] = {}
        self.request_ids: dict[str, str] = {}
        self.violations: list[str] = []
        self.requests: list[dict] = []
        self.faults: list[ComputeFault] = []
        self.access_tokens: set[str] = set()
        self.public_keys: dict[str, object] = {}  # client_email -> RSA public key
        self.vm_tokens: dict[str, str] = {}  # access token -> instance name
        self.on_change: list = []  # callbacks(instance) after a state change
        self._ids = itertools.count(4_200_000_000_000_000_001)
        self._lock = threading.RLock()

    # -- test helpers ------------------------------------------------------------------------------

    def fail(self, kind: str, **fault) -> ComputeFault:
        """Inject a :class:`ComputeFault` (``kind`` without the ``compute.`` prefix)."""
        injected = ComputeFault(kind, **fault)
        self.faults.append(injected)
        return injected

    def live(self) -> list[dict]:
        """Instances not yet deleted (in any state)."""
        with self._lock:
            self.advance()
            return [dict(i) for i in self.instances.values()]

    def calls(self, kind: str | None = None) -> list[dict]:
        """The recorded requests (``kind``: one method, like ``instances.insert``)."""
        return [r for r in self.requests if kind is None or r["kind"] == kind]

    def kinds(self) -> list[str]:
        return [r["kind"] for r in self.requests]

    def issue_vm_token(self, instance_name: str) -> str:
        """The access token the metadata server of ``instance_name`` hands out (its service account's)."""
        token = "ya29.vm-" + secrets.token_urlsafe(24)
        with self._lock:
            self.vm_tokens[token] = instance_name
        return token

    def fast_forward(self, seconds: float) -> None:
        """Let ``seconds`` of cloud time pass for the maximum run durations (scaled by ``runtime_scale``)."""
        with self._lock:
            for instance in self.instances.values():
                if instance["_internal"].get("deadline") is not None:
                    instance["_internal"]["deadline"] -= seconds * self.runtime_scale
            self.advance()

    def power_off(self, zone: str, name: str) -> None:
        """The guest powered itself off: ``STOPPING``, then ``TERMINATED`` (the instance stays, as on GCE)."""
        with self._lock:
            instance = self.instances.get((zone, name))
            if instance and instance["status"] in ("PROVISIONING", "STAGING", "RUNNING"):
                self._set_status(instance, "STOPPING", until=time.monotonic() + self.step_seconds,
                                 then="TERMINATED")

    # -- the clock -------------------------------------------------------------------------------

    def advance(self) -> None:
        """Move every operation and instance on to where time has taken it."""
        now = time.monotonic()
        with self._lock:
            for operation in self.operations.values():
                internal = operation["_internal"]
                if operation["status"] != "DONE" and now >= internal["done_at"]:
                    self._finish(operation)
                elif operation["status"] == "PENDING" and now >= internal["running_at"]:
                    operation["status"] = "RUNNING"
                    operation["startTime"] = timestamp(time.time())
                    operation["progress"] = 0
            for key, instance in list(self.instances.items()):
                internal = instance["_internal"]
                while internal.get("next") and now >= internal["until"]:
                    following = internal.pop("next")
                    if following == "GONE":
                        self._forget(key)
                        break
                    after = {"PROVISIONING": "STAGING", "STAGING": "RUNNING"}.get(following)
                    self._set_status(instance, following, until=internal["until"] + self.step_seconds, then=after)
                deadline = internal.get("deadline")
                if key in self.instances and deadline is not None and now >= deadline \
                        and instance["status"] not in ("TERMINATED",) and not internal.get("ending"):
                    internal["ending"] = True
                    action = instance.get("scheduling", {}).get("instanceTerminationAction", "STOP")
                    self._set_status(instance, "STOPPING", until=now + self.step_seconds,
                                     then="GONE" if action == "DELETE" else "TERMINATED")

    def _set_status(self, instance: dict, status: str, until: float, then: str | None) -> None:
        instance["status"] = status
        internal = instance["_internal"]
        internal["until"] = until
        if then:
            internal["next"] = then
        else:
            internal.pop("next", None)
        if status == "RUNNING":
            instance["lastStartTimestamp"] = timestamp(time.time())
        if status == "TERMINATED":
            instance["lastStopTimestamp"] = timestamp(time.time())
        for callback in list(self.on_change):
            callback(self.public(instance))

    def _forget(self, key: tuple[str, str]) -> None:
        instance = self.instances.pop(key)
        instance["status"] = "DELETED"
        self.deleted.append(self.public(instance))
        for callback in list(self.on_change):
            callback(self.public(instance))

    @staticmethod
    def public(resource: dict) -> dict:
        return {k: v for k, v in resource.items() if k != "_internal"}

    # -- requests -------------------------------------------------------------------------------

    def authorized(self, headers: dict) -> str | None:
        """Why the request is not authenticated, or ``None``."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not value.startswith("Bearer "):
            return "Request is missing required authentication credential."
        token = value[len("Bearer "):]
        if token in self.access_tokens or token in self.vm_tokens:
            return None
        if token.count(".") == 2 and self._self_signed_jwt_ok(token):
            return None
        return "Request had invalid authentication credentials."

    def _self_signed_jwt_ok(self, token: str) -> bool:
        try:
            claims = verify_jwt(token, self.public_keys)
        except ValueError:
            return False
        return claims.get("aud", "").startswith("https://compute.googleapis.com") or "scope" in claims

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict, body: bytes,
               kind: str, fault: ComputeFault | None) -> Response:
        """One API request, already checked against the discovery document."""
        refusal = self.authorized(headers)
        if refusal:
            return google_error(401, refusal, "authError")
        found = self.discovery.route(method, path)
        assert found is not None
        route, params = found
        if params.get("project") not in (None, self.project):
            return google_error(403, f"Permission denied on resource project {params['project']}.", "forbidden")
        if "zone" in params and params["zone"] not in ZONES:
            return google_error(400, f"Invalid value for field 'zone': '{params['zone']}'. Unknown zone.", "invalid")
        arguments = {name: values[0] for name, values in query.items()}
        document = json.loads(body) if body else None
        with self._lock:
            self.advance()
            handler = getattr(self, "_" + kind.replace(".", "_"), None)
            if handler is None:
                self.violations.append(f"{kind}: the fake does not implement this method")
                return google_error(501, f"the fake does not implement {kind}", "notImplemented")
            return handler(params, arguments, document, fault)

    # instances

    def _instances_insert(self, params, arguments, resource, fault) -> Response:
        zone = params["zone"]
        request_id = arguments.get("requestId")
        if request_id and request_id in self.request_ids:
            return Response(200, self.public(self.operations[self.request_ids[request_id]]))
        invalid = self._check_instance(zone, resource)
        if invalid:
            return google_error(400, invalid, "invalid")
        if (zone, resource["name"]) in self.instances:
            return google_error(409, f"The resource 'projects/{self.project}/zones/{zone}/instances/"
                                     f"{resource['name']}' already exists", "alreadyExists")
        capacity = fault is not None and fault.capacity
        operation = self._operation(zone, "insert", resource["name"], request_id)
        if capacity:
            operation["_internal"]["error"] = {
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                "message": f"The zone 'projects/{self.project}/zones/{zone}' does not have enough resources "
                           f"available to fulfill the request.  Try a different zone, or try again later."}
            return Response(200, self.public(operation))
        now = time.monotonic()
        instance = {
            **resource, "kind": "compute#instance", "id": str(next(self._ids)),
            "creationTimestamp": timestamp(time.time()), "status": "PROVISIONING",
            "zone": self._url(f"zones/{zone}"), "selfLink": self._url(f"zones/{zone}/instances/{resource['name']}"),
            "machineType": self._url(f"zones/{zone}/machineTypes/{resource['machineType'].rsplit('/', 1)[-1]}"),
            "labelFingerprint": base64.b64encode(secrets.token_bytes(8)).decode(),
            "cpuPlatform": "Intel Cascade Lake", "startRestricted": False, "deletionProtection": False,
            "_internal": {"until": now + self.step_seconds, "next": "STAGING"},
        }
        metadata = dict(resource.get("metadata") or {})
        metadata.update({"kind": "compute#metadata", "fingerprint": base64.b64encode(secrets.token_bytes(8)).decode()})
        instance["metadata"] = metadata
        max_run = (resource.get("scheduling") or {}).get("maxRunDuration")
        if max_run:
            seconds = int(max_run.get("seconds", "0")) + max_run.get("nanos", 0) / 1e9
            instance["_internal"]["deadline"] = now + seconds * self.runtime_scale
        operation["targetId"] = instance["id"]
        operation["_internal"]["instance"] = instance
        return Response(200, self.public(operation))

    def _check_instance(self, zone: str, resource: dict) -> str:
        """What Compute Engine itself would refuse in an insert (beyond the schema), or ``""``."""
        if not resource.get("name") or not RESOURCE_NAME.fullmatch(resource["name"]):
            return f"Invalid value for field 'resource.name': '{resource.get('name', '')}'. Must be a match of " \
                   f"regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
        machine_type = (resource.get("machineType") or "").rsplit("/", 1)[-1]
        if machine_type_info(machine_type) is None:
            return f"Invalid value for field 'resource.machineType': '{resource.get('machineType', '')}'. " \
                   f"Machine type with name '{machine_type}' does not exist in zone '{zone}'."
        disks = resource.get("disks") or []
        boot = [d for d in disks if d.get("boot")]
        if len(boot) != 1:
            return "Invalid value for field 'resource.disks': ''. Exactly one boot disk must be specified."
        source = (boot[0].get("initializeParams") or {}).get("sourceImage", "")
        if not self._image(source):
            return f"Invalid value for field 'resource.disks[0].initializeParams.sourceImage': '{source}'. " \
                   f"The referenced image resource cannot be found."
        if not resource.get("networkInterfaces"):
            return "Invalid value for field 'resource.networkInterfaces': ''. At least one network interface " \
                   "is required."
        labels = resource.get("labels") or {}
        for key, value in labels.items():
            if not LABEL_KEY.fullmatch(key) or not LABEL_VALUE.fullmatch(value):
                return f"Invalid value for field 'resource.labels': '{key}={value}'. Label keys and values may " \
                       f"contain only lowercase letters, digits, '_' and '-'."
        if len(labels) > 64:
            return "Invalid value for field 'resource.labels': too many labels (64 at most)."
        items = (resource.get("metadata") or {}).get("items") or []
        total = 0
        for item in items:
            if not METADATA_KEY.fullmatch(item.get("key", "")):
                return f"Invalid value for field 'resource.metadata.items.key': '{item.get('key', '')}'."
            size = len(item.get("value", "").encode())
            if size > METADATA_VALUE_LIMIT:
                return f"Invalid value for field 'resource.metadata': the value of '{item['key']}' is too large."
            total += size
        if total > METADATA_LIMIT:
            return "Invalid value for field 'resource.metadata': total metadata size exceeds 512 KB."
        scheduling = resource.get("scheduling") or {}
        spot = scheduling.get("provisioningModel") == "SPOT" or scheduling.get("preemptible")
        maintenance = scheduling.get("onHostMaintenance", "TERMINATE" if spot else "MIGRATE")
        gpus = resource.get("guestAccelerators") or []
        if (gpus or machine_type_info(machine_type)[2]) and maintenance != "TERMINATE":
            return "Instances with guest accelerators do not support live migration."
        if spot and (scheduling.get("automaticRestart") or maintenance != "TERMINATE"):
            return "Invalid value for field 'resource.scheduling': Spot VMs cannot be restarted automatically " \
                   "or live-migrated."
        if scheduling.get("maxRunDuration") and not scheduling.get("instanceTerminationAction"):
            return "Invalid value for field 'resource.scheduling.instanceTerminationAction': ''. Must be set " \
                   "when maxRunDuration or terminationTime is set."
        for gpu in gpus:
            name = gpu.get("acceleratorType", "").rsplit("/", 1)[-1]
            if name not in ACCELERATOR_TYPES:
                return f"Invalid value for field 'resource.guestAccelerators[0].acceleratorType': '{name}'."
        return ""

    def _image(self, source: str) -> bool:
        match = re.search(r"projects/([^/]+)/global/images/(family/)?([^/]+)$", source)
        if not match:
            return False
        project, family, name = match.groups()
        families = IMAGE_FAMILIES.get(project, {})
        return name in families if family else name in families.values()

    def _instances_get(self, params, arguments, document, fault) -> Response:
        instance = self.instances.get((params["zone"], params["instance"]))
        if instance is None:
            return self._not_found(params)
        return Response(200, self.public(instance))

    def _not_found(self, params) -> Response:
        return google_error(404, f"The resource 'projects/{self.project}/zones/{params['zone']}/instances/"
                                 f"{params['instance']}' was not found", "notFound")

    def _instances_delete(self, params, arguments, document, fault) -> Response:
        request_id = arguments.get("requestId")
        if request_id and request_id in self.request_ids:
            return Response(200, self.public(self.operations[self.request_ids[request_id]]))
        key = (params["zone"], params["instance"])
        instance = self.instances.get(key)
        if instance is None:
            return self._not_found(params)
        operation = self._operation(params["zone"], "delete", params["instance"], request_id)
        operation["targetId"] = instance["id"]
        if instance["status"] != "STOPPING" or instance["_internal"].get("next") != "GONE":
            self._set_status(instance, "STOPPING", until=time.monotonic() + self.step_seconds, then="GONE")
        return Response(200, self.public(operation))

    def _matching(self, arguments) -> list[dict]:
        try:
            predicate = parse_filter(arguments["filter"]) if arguments.get("filter") else (lambda r: True)
        except (FilterError, re.error) as error:
            raise FilterError(f"Invalid value for field 'filter': '{arguments.get('filter')}'. {error}") from None
        return [self.public(i) for i in self.instances.values() if predicate(self.public(i))]

    def _page(self, items: list, arguments) -> tuple[list, str | None]:
        size = int(arguments.get("maxResults") or 500)
        start = int(arguments.get("pageToken") or 0)
        following = start + size
        return items[start:following], (str(following) if following < len(items) else None)

    def _instances_list(self, params, arguments, document, fault) -> Response:
        try:
            found = [i for i in self._matching(arguments) if i["zone"].endswith("/" + params["zone"])]
        except FilterError as error:
            return google_error(400, str(error), "invalid")
        page, following = self._page(sorted(found, key=lambda i: i["name"]), arguments)
        body = {"kind": "compute#instanceList", "id": f"projects/{self.project}/zones/{params['zone']}/instances",
                "items": page, "selfLink": self._url(f"zones/{params['zone']}/instances")}
        if following:
            body["nextPageToken"] = following
        if not page:
            del body["items"]
        return Response(200, body)

    def _instances_aggregatedList(self, params, arguments, document, fault) -> Response:
        try:
            found = self._matching(arguments)
        except FilterError as error:
            return google_error(400, str(error), "invalid")
        scoped = sorted(((i["zone"].rsplit("/", 1)[-1], i) for i in found), key=lambda p: (p[0], p[1]["name"]))
        page, following = self._page(scoped, arguments)
        items: dict[str, dict] = {}
        for zone in ZONES:
            mine = [i for z, i in page if z == zone]
            items[f"zones/{zone}"] = {"instances": mine} if mine else {"warning": {
                "code": "NO_RESULTS_ON_PAGE", "message": "There are no results for scope 'zones/" + zone + "' on this page.",
                "data": [{"key": "scope", "value": f"zones/{zone}"}]}}
        body = {"kind": "compute#instanceAggregatedList", "id": f"projects/{self.project}/aggregated/instances",
                "items": items, "selfLink": self._url("aggregated/instances")}
        if following:
            body["nextPageToken"] = following
        return Response(200, body)

    # operations

    def _operation(self, zone: str, operation_type: str, target: str, request_id: str | None) -> dict:
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}-{secrets.token_hex(4)}"
        now = time.monotonic()
        operation = {
            "kind": "compute#operation", "id": str(next(self._ids)), "name": name, "zone": self._url(f"zones/{zone}"),
            "operationType": operation_type, "targetLink": self._url(f"zones/{zone}/instances/{target}"),
            "status": "PENDING", "user": SERVICE_ACCOUNT, "progress": 0, "insertTime": timestamp(time.time()),
            "selfLink": self._url(f"zones/{zone}/operations/{name}"),
            "_internal": {"running_at": now + self.step_seconds / 2, "done_at": now + self.step_seconds},
        }
        self.operations[name] = operation
        if request_id:
            self.request_ids[request_id] = name
        return operation

    def _finish(self, operation: dict) -> None:
        internal = operation["_internal"]
        operation.update(status="DONE", progress=100, endTime=timestamp(time.time()))
        operation.setdefault("startTime", operation["endTime"])
        if internal.get("error"):
            operation["error"] = {"errors": [internal["error"]]}
            operation.update(httpErrorStatusCode=503, httpErrorMessage="SERVICE UNAVAILABLE")
            return
        instance = internal.pop("instance", None)
        if instance is not None:
            zone = instance["zone"].rsplit("/", 1)[-1]
            self.instances[(zone, instance["name"])] = instance
            for callback in list(self.on_change):
                callback(self.public(instance))

    def _zoneOperations_get(self, params, arguments, document, fault) -> Response:
        operation = self.operations.get(params["operation"])
        if operation is None or not operation["zone"].endswith("/" + params["zone"]):
            return google_error(404, f"The resource 'projects/{self.project}/zones/{params['zone']}/operations/"
                                     f"{params['operation']}' was not found", "notFound")
        return Response(200, self.public(operation))

    def _zoneOperations_wait(self, params, arguments, document, fault) -> Response:
        # The server waits (up to two minutes on GCE); here, until the operation is due, outside the lock.
        return self._zoneOperations_get(params, arguments, document, fault)

    def wait_time(self, params: dict) -> float:
        """How long a ``wait`` for the operation in ``params`` should hold the answer back."""
        with self._lock:
            operation = self.operations.get(params.get("operation", ""))
            if operation is None or operation["status"] == "DONE":
                return 0.0
            return max(0.0, operation["_internal"]["done_at"] - time.monotonic())

    # lookups a backend may make before starting anything

    def _machineTypes_get(self, params, arguments, document, fault) -> Response:
        name = params["machineType"]
        if machine_type_info(name) is None:
            return google_error(404, f"The resource 'projects/{self.project}/zones/{params['zone']}/machineTypes/"
                                     f"{name}' was not found", "notFound")
        cpus, memory, gpu = machine_type_info(name)
        body = {"kind": "compute#machineType", "id": str(abs(hash(name)) % 10**12), "name": name,
                "guestCpus": cpus, "memoryMb": memory, "zone": params["zone"], "isSharedCpu": False,
                "selfLink": self._url(f"zones/{params['zone']}/machineTypes/{name}"),
                "architecture": "X86_64"}
        if gpu:
            count = int(re.search(r"-(\d+)g?$", name)[1]) if name.startswith(("a2", "a3")) else 1
            body["accelerators"] = [{"guestAcceleratorType": gpu, "guestAcceleratorCount": count}]
        return Response(200, body)

    def _acceleratorTypes_get(self, params, arguments, document, fault) -> Response:
        name = params["acceleratorType"]
        if name not in ACCELERATOR_TYPES:
            return google_error(404, f"The resource 'projects/{self.project}/zones/{params['zone']}/"
                                     f"acceleratorTypes/{name}' was not found", "notFound")
        return Response(200, {"kind": "compute#acceleratorType", "name": name, "zone": params["zone"],
                              "maximumCardsPerInstance": 8,
                              "selfLink": self._url(f"zones/{params['zone']}/acceleratorTypes/{name}")})

    def _image_resource(self, project: str, name: str, family: str) -> dict:
        return {"kind": "compute#image", "id": str(abs(hash(name)) % 10**12), "name": name, "family": family,
                "status": "READY", "diskSizeGb": "10", "architecture": "ARM64" if "arm64" in name else "X86_64",
                "selfLink": f"{self.base_url}{API}/projects/{project}/global/images/{name}"}

    def _images_getFromFamily(self, params, arguments, document, fault) -> Response:
        families = IMAGE_FAMILIES.get(params["project"], {})
        if params["family"] not in families:
            return google_error(404, f"The resource 'projects/{params['project']}/global/images/family/"
                                     f"{params['family']}' was not found", "notFound")
        return Response(200, self._image_resource(params["project"], families[params["family"]], params["family"]))

    def _images_get(self, params, arguments, document, fault) -> Response:
        for family, name in IMAGE_FAMILIES.get(params["project"], {}).items():
            if name == params["image"]:
                return Response(200, self._image_resource(params["project"], name, family))
        return google_error(404, f"The resource 'projects/{params['project']}/global/images/{params['image']}' "
                                 f"was not found", "notFound")

    def _zones_get(self, params, arguments, document, fault) -> Response:
        if params["zone"] not in ZONES:
            return google_error(404, f"The resource 'projects/{self.project}/zones/{params['zone']}' was not found",
                                "notFound")
        return Response(200, {"kind": "compute#zone", "name": params["zone"], "status": "UP",
                              "region": self._url(f"regions/{params['zone'].rsplit('-', 1)[0]}"),
                              "selfLink": self._url(f"zones/{params['zone']}")})

    def _url(self, tail: str) -> str:
        return f"{self.base_url}{API}/projects/{self.project}/{tail}"


# -- OAuth ---------------------------------------------------------------------------------------


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_jwt(token: str, public_keys: dict) -> dict:
    """The claims of an RS256 JWT signed by one of ``public_keys`` (by issuer); ValueError otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(_b64decode(header_part))
        claims = json.loads(_b64decode(claims_part))
        key = public_keys[claims["iss"]]
        if header.get("alg") != "RS256":
            raise ValueError("not RS256")
        key.verify(_b64decode(signature_part), f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(),
                   hashes.SHA256())
    except (KeyError, InvalidSignature, json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"bad JWT: {error}") from None
    if claims.get("exp", 0) < time.time() - 60:
        raise ValueError("expired JWT")
    return claims


def write_credentials(folder: Path, server: ComputeServer, project: str = PROJECT) -> Path:
    """A service-account key file (a fresh RSA key) whose ``token_uri`` is the fake's ``/token``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    server.fake.public_keys[SERVICE_ACCOUNT] = key.public_key()
    path = Path(folder) / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20),
        "private_key": pem, "client_email": SERVICE_ACCOUNT, "client_id": "109876543210987654321",
        "auth_uri": f"{server.url}/auth", "token_uri": f"{server.url}/token",
        "auth_provider_x509_cert_url": f"{server.url}/certs", "universe_domain": "googleapis.com"}))
    return path


# -- the server --------------------------------------------------------------------------------


class ComputeServer(LoopbackServer):
    """:class:`FakeCompute` and the OAuth token endpoint over HTTP on 127.0.0.1 (a thread per request)."""

    def __init__(self, fake: FakeCompute):
        self.fake = fake
        self._lock = threading.Lock()
        self._ticking = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = parse_qs(parts.query, keep_blank_values=True)
                response = server.answer(self.command, parts.path, query, dict(self.headers.items()), body)
                if response is None:  # a stalled answer: the client gave up; drop the connection
                    self.close_connection = True
                    return
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                headers = {"Content-Type": "application/json; charset=UTF-8", **response.headers}
                with contextlib.suppress(OSError):
                    write_response(self, response.status, headers, payload)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

        self.start_serving(Handler, poll_interval=0.05)
        self.ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self):
        self.fake.base_url = self.url
        super().__enter__()
        self.ticker.start()
        deadline = time.monotonic() + 30
        while True:  # ready when it answers
            try:
                requests.get(self.url + "/ready", timeout=2)
                return self
            except OSError:
                assert time.monotonic() < deadline, "the fake Compute Engine did not start"
                time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self._ticking.set()
        super().__exit__(*exc)
        self.ticker.join(5)

    def _tick(self) -> None:
        # Time passes on the cloud whether or not anyone asks: instances start, stop and hit maxRunDuration.
        while not self._ticking.wait(0.05):
            with contextlib.suppress(Exception):
                self.fake.advance()

    def answer(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> Response | None:
        fake = self.fake
        if path == "/ready":
            return Response(200, {})
        if path == "/token":
            return self._token(method, body, fake.faults)
        found = fake.discovery.route(method, path)
        kind = found[0].id.removeprefix("compute.") if found else f"{method} {path}"
        record = {"kind": kind, "method": method, "path": path, "query": query,
                  "body": json.loads(body) if body.strip().startswith(b"{") else body.decode(errors="replace"),
                  "headers": {name.title(): value for name, value in headers.items()}}
        with fake._lock:
            fake.requests.append(record)
            problems = fake.discovery.problems(method, path, query, body)
            fault = self._fault(kind)
        if problems:
            with fake._lock:
                fake.violations += problems
            return google_error(400, "; ".join(problems), "invalid")
        if fault and fault.after:  # the request takes effect; its answer stalls past the client's time-out, or fails
            fake.handle(method, path, query, headers, body, kind, fault)
            if fault.delay:
                time.sleep(fault.delay)
                return None
            return google_error(fault.status or 500, fault.message, fault.reason)
        if fault and fault.delay:
            time.sleep(fault.delay)
            return None
        if fault and fault.status:
            return google_error(fault.status, fault.message, fault.reason)
        if kind == "zoneOperations.wait":
            time.sleep(min(fake.wait_time(found[1]), 5.0))
        return fake.handle(method, path, query, headers, body, kind, fault)

    def _fault(self, kind: str) -> ComputeFault | None:
        for fault in self.fake.faults:
            if fault.kind == kind and fault.times > 0:
                fault.seen += 1
                if fault.seen >= fault.nth:
                    fault.times -= 1
                    return fault
                return None
        return None

    def _token(self, method: str, body: bytes, faults) -> Response:
        with self.fake._lock:
            self.fake.requests.append({"kind": "token", "method": method, "path": "/token", "query": {},
                                       "body": body.decode(errors="replace"), "headers": {}})
            fault = self._fault("token")
        if fault and fault.status:
            return Response(fault.status, {"error": "internal_failure", "error_description": fault.message})
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if method != "POST" or form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            claims = verify_jwt(form.get("assertion", ""), self.fake.public_keys)
        except ValueError as error:
            return Response(400, {"error": "invalid_grant", "error_description": str(error)})
        if claims.get("aud") != f"{self.url}/token":
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT audience."})
        scopes = claims.get("scope", "").split()
        if not any(s.endswith(("/auth/compute", "/auth/cloud-platform")) for s in scopes):
            return Response(400, {"error": "invalid_scope", "error_description": f"no compute scope in {scopes}"})
        return self._issue()

    def _issue(self) -> Response:
        token = "ya29.c." + secrets.token_urlsafe(32)
        with self.fake._lock:
            self.fake.access_tokens.add(token)
        return Response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


# -- the VMs ---------------------------------------------------------------------------------------


def metadata_value(instance: dict, key: str) -> str | None:
    for item in (instance.get("metadata") or {}).get("items") or []:
        if item.get("key") == key:
            return item.get("value", "")
    return None


def script_settings(script: str) -> dict[str, str]:
    """The ``CML_…=value`` settings at the top of a startup script."""
    marker = "# Settings written by cml runner launch.\n"
    assert marker in script, "not a startup script cml runner launch rendered"
    lexer = shlex.shlex(script.split(marker, 1)[1], posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    settings = {}
    for token in lexer:  # values may span lines (shell snippets), so read them as the shell does
        match = re.fullmatch(r"(CML_[A-Z0-9_]+)=(.*)", token, re.DOTALL)
        if not match:
            break
        settings[match[1]] = match[2]
    return settings


def sandboxed_on_gce(script: str, machine: Machine, compute_url: str) -> str:
    """``script`` as the sandbox runs it: downloads and the work folder inside ``machine``'s sandbox, and Google's
    hosts (metadata server, Compute API) on loopback, as DNS, TLS and disks would have it on a VM. Everything
    else stays as the instance's metadata holds it."""
    text = sandboxed(script, machine)
    for host, local in (("https://compute.googleapis.com", compute_url), ("https://www.googleapis.com", compute_url),
                        ("http://metadata.google.internal", machine.internet.url),
                        ("http://169.254.169.254", machine.internet.url)):
        text = text.replace(host, local)
    return text


class GcpFleet:
    """The VMs of :class:`FakeCompute`: ``behaviour`` ``"boot"`` runs each instance's startup script in a
    sandbox once it is ``RUNNING``; ``"never"`` leaves it running with nothing reaching the forge;
    ``"power-off"`` has the guest power off at once (the instance becomes ``TERMINATED``)."""

    def __init__(self, server: ComputeServer, forges: dict, behaviour: str = "boot", poll_seconds: float = 0.2,
                 proxy: str = ""):
        self.server = server
        self.proxy = proxy  # where the sandbox's requests that would leave loopback go
        self.fake = server.fake
        self.forges = forges
        self.behaviour = behaviour
        self.poll_seconds = poll_seconds
        self.machines: dict[str, Machine] = {}  # instance name -> its sandbox
        self.settings: dict[str, dict[str, str]] = {}
        self.preempted: set[str] = set()
        self._handled: set[str] = set()  # instance ids
        self._seen_events: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._shutdowns: list[threading.Thread] = []
        self.errors: list[str] = []

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        for thread in self._shutdowns:
            thread.join(30)
        for machine in self.machines.values():
            machine.close()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self._step()
            except Exception as error:  # noqa: BLE001 - reported by the fixture
                self.errors.append(f"{type(error).__name__}: {error}")

    def _step(self) -> None:
        for instance in self.fake.live():
            if instance["status"] == "RUNNING" and instance["id"] not in self._handled:
                self._handled.add(instance["id"])
                self._start(instance)
        live = {i["name"]: i for i in self.fake.live()}
        for name, machine in list(self.machines.items()):
            instance = live.get(name)
            if instance is None and machine.process is not None and machine.process.poll() is None:
                machine.halt()  # the VM is gone: so is everything running on it
            self._follow(name, machine, instance)

    def _start(self, instance: dict) -> None:
        zone = instance["zone"].rsplit("/", 1)[-1]
        if self.behaviour == "power-off":
            self.fake.power_off(zone, instance["name"])
            return
        script = metadata_value(instance, "startup-script")
        if script is None:
            return
        self.settings[instance["name"]] = script_settings(script)
        if self.behaviour != "boot":
            return
        machine = Machine(poll_seconds=self.poll_seconds, stop_grace_seconds=2)
        self.machines[instance["name"]] = machine
        token = self.fake.issue_vm_token(instance["name"])
        machine.internet.gce = self._metadata(instance, token)
        machine.boot_script(sandboxed_on_gce(script, machine, self.server.url), extra_env=self.environment(machine))

    def environment(self, machine: Machine) -> dict[str, str]:
        """What the sandbox's scripts find in their environment besides :class:`Machine`'s own: where the metadata
        server and the Compute API are (the variables google-auth and cml read)."""
        environment = {"CML_GCP_COMPUTE_ENDPOINT": self.server.url,
                       "GCE_METADATA_HOST": machine.internet.url.split("//")[1]}
        if self.proxy:
            environment.update(http_proxy=self.proxy, https_proxy=self.proxy, no_proxy="127.0.0.1,localhost")
        return environment

    def _shut_down(self, name: str, zone: str, machine: Machine, instance: dict) -> None:
        """The guest powers off: the guest agent runs the ``shutdown-script`` metadata (up to 90 s on GCE; 30 s
        here), then the VM stops (``TERMINATED``) unless that script deleted it."""
        script = metadata_value(instance, "shutdown-script")
        if script:
            process = machine.start_script(sandboxed_on_gce(script, machine, self.server.url), "shutdown-script.sh",
                                           self.environment(machine))
            try:
                process.wait(30)
            except Exception:  # noqa: BLE001 - killed below; the VM stops regardless
                os.killpg(process.pid, 9)
                process.wait()
            machine.record("guest-agent", "shutdown-script", f"exit={process.returncode}")
        self.fake.power_off(zone, name)

    def _metadata(self, instance: dict, token: str) -> dict[str, str]:
        zone = instance["zone"].rsplit("/", 1)[-1]
        name = instance["name"]
        answers = {
            "instance/name": name, "instance/hostname": f"{name}.{zone}.c.{self.fake.project}.internal",
            "instance/id": instance["id"], "instance/zone": f"projects/{PROJECT_NUMBER}/zones/{zone}",
            "instance/machine-type": f"projects/{PROJECT_NUMBER}/machineTypes/"
                                     f"{instance['machineType'].rsplit('/', 1)[-1]}",
            "project/project-id": self.fake.project, "project/numeric-project-id": PROJECT_NUMBER,
            "instance/service-accounts/default/email": SERVICE_ACCOUNT,
            "instance/service-accounts/default/token": json.dumps(
                {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
        }
        for item in (instance.get("metadata") or {}).get("items") or []:
            answers[f"instance/attributes/{item['key']}"] = item.get("value", "")
        preempted = self.preempted

        class Answers(dict):
            def get(self, key, default=None):
                if key == "instance/preempted":
                    return "TRUE" if name in preempted else "FALSE"
                return super().get(key, default)

        return Answers(answers)

    def _follow(self, name: str, machine: Machine, instance: dict | None) -> None:
        """What the sandbox did since last time, as the forge and the cloud see it."""
        events = machine.events()
        start = self._seen_events.get(name, 0)
        self._seen_events[name] = len(events)
        settings = self.settings.get(name, {})
        store = self.forges[settings.get("CML_FORGE", "github")].runner_store
        for event in events[start:]:
            detail = dict(part.split("=", 1) for part in event.detail.split() if "=" in part)
            if (event.who, event.what) == ("run.sh", "start") and detail.get("jitconfig"):
                store.connect_jit(detail["jitconfig"])
            elif (event.who, event.what) == ("config.sh", "configure"):
                store.configure(detail.get("token", ""), settings.get("CML_RUNNER_NAME", ""),
                                settings.get("CML_RUNNER_LABELS", "").split(","))
            elif (event.who, event.what) == ("config.sh", "remove") and detail.get("token") in store.removal_tokens:
                runner = store.named(settings.get("CML_RUNNER_NAME", ""))
                if runner is not None:
                    store.delete(runner["id"])
            elif (event.who, event.what) == ("gitlab-runner", "start") and detail.get("token"):
                store.connect_token(detail["token"])
            elif event.who in ("run.sh", "gitlab-runner") and event.what == "job-start":
                self._set_runner(store, settings, busy=True)
            elif event.who in ("run.sh", "gitlab-runner") and event.what == "job-end":
                self._set_runner(store, settings, busy=False)
                if event.who == "run.sh" and settings.get("CML_GITHUB_JITCONFIG"):
                    runner = store.named(settings.get("CML_RUNNER_NAME", ""))
                    if runner is not None:  # GitHub removes an ephemeral runner after its job
                        store.delete(runner["id"])
            elif event.who in ("run.sh", "gitlab-runner") and event.what in ("signal", "exit"):
                runner = store.named(settings.get("CML_RUNNER_NAME", ""))
                if runner is not None:
                    runner["status"] = "offline"
            elif event.who in ("shutdown", "poweroff") and instance is not None and (
                    event.who == "poweroff" or "-P now" in event.detail):
                thread = threading.Thread(target=self._shut_down, daemon=True, args=(
                    name, instance["zone"].rsplit("/", 1)[-1], machine, instance))
                self._shutdowns.append(thread)
                thread.start()

    @staticmethod
    def _set_runner(store, settings: dict, busy: bool) -> None:
        runner = store.named(settings.get("CML_RUNNER_NAME", ""))
        if runner is not None:
            runner["busy"] = busy


class Tripwire(LoopbackServer):
    """The HTTP(S) proxy the tests set: a request that would leave loopback ends here, recorded and refused."""

    def __init__(self):
        self.requests: list[str] = []
        tripwire = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _refuse(self):
                tripwire.requests.append(f"{self.command} {self.path}")
                write_response(self, 403, {"Content-Type": "text/plain"}, b"no request may leave loopback")
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_CONNECT = do_HEAD = _refuse

        self.start_serving(Handler)
