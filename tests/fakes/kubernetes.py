"""A stateful Kubernetes API server on loopback: Jobs, their Pods, Secrets, Events and namespaces.

:class:`FakeKubernetes` answers the REST subset the official ``kubernetes`` client uses and
plays the control plane behind it:

* every created or patched object is validated against the official JSON schemas of
  :data:`KUBERNETES_VERSION` (``kubernetes-validate``, strict) plus the API server's own
  checks on names and labels; an invalid one is refused with 422 and a ``Status`` body;
* a job controller gives each Job ``parallelism`` Pods, a scheduler places them on
  :class:`Node` s by their requests, node selector and tolerations (or leaves them Pending
  with ``PodScheduled=False/Unschedulable`` and a ``FailedScheduling`` Event), and a kubelet
  "runs" a scheduled Pod: it reads the startup script from the Secret the Pod mounts and
  boots it in a :class:`tests.fakes.machine.Machine` sandbox, bringing the runner online on the
  fake forge (or, with ``runner="settings"``, only connects the registration, as
  :class:`tests.fakes.ec2.MachineFleet` does);
* ``activeDeadlineSeconds`` fails a Job (``DeadlineExceeded``) and deletes its Pods,
  ``ttlSecondsAfterFinished`` deletes a finished Job, and deleting an object deletes every
  object whose ``ownerReferences`` name its uid. Deadlines and TTLs run ``speed`` times faster
  than the wall clock.

It runs behind :class:`tests.fakes.server.FakeForgeServer`, so every request is recorded and
faults (an HTTP error, a delay past the client's time-out, a reset) can be queued.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import itertools
import json
import os
import re
import secrets
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import kubernetes_validate

from tests.fakes.ec2 import bring_online, read_settings
from tests.fakes.machine import Machine, sandboxed
from tests.fakes.server import FakeForgeServer, Request, Response

#: The Kubernetes version whose schemas created objects must satisfy.
KUBERNETES_VERSION = "1.31.0"
BEARER_TOKEN = "kube-bearer-7c1f2e9d44"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
KINDS = {"jobs": ("batch/v1", "Job", "batch"), "pods": ("v1", "Pod", ""), "secrets": ("v1", "Secret", ""),
         "events": ("v1", "Event", ""), "namespaces": ("v1", "Namespace", "")}
PATH = re.compile(r"^/(?:api/v1|apis/batch/v1)(?:/namespaces/(?P<namespace>[^/]+))?/(?P<kind>jobs|pods|secrets|events)"
                  r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>status|log))?$")
GIB = 1024 ** 3
#: How long the kubelet retries mounting a missing Secret before it reports FailedMount.
MOUNT_RETRY_SECONDS = 1.0
#: The longest a deleted pod's sandbox gets to stop (its terminationGracePeriodSeconds, sped up, up to this).
MAX_GRACE_SECONDS = 5.0


def now_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(value) -> float:
    """A Kubernetes quantity (``500m``, ``2``, ``4Gi``, ``1G``) as a number."""
    text = str(value)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024 ** 2, "Gi": GIB,
             "Ti": 1024 ** 4}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    if not match or match[2] not in ("", *units):
        raise ValueError(f"quantities must match the regular expression; got {text!r}")
    return float(match[1]) * units.get(match[2], 1)


@dataclass
class Node:
    """A node the scheduler may place Pods on; ``allocatable`` in cpu cores, memory bytes and GPUs."""

    name: str
    cpu: float = 8
    memory: float = 32 * GIB
    gpus: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)


def status(code: int, reason: str, message: str, details: dict | None = None) -> Response:
    """An error as the API server sends it: a ``Status`` object."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return Response(code, body)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality-based label selectors (``a=b,c!=d,e``), as the client sends them."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def affinity_matches(affinity: dict, labels: dict[str, str]) -> bool:
    """Required node affinity: any term matches when all its expressions do (In, NotIn, Exists, DoesNotExist)."""
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True

    def expression(rule: dict) -> bool:
        key, operator, values = rule["key"], rule["operator"], rule.get("values") or []
        return {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}.get(operator, False)

    return any(all(expression(rule) for rule in term.get("matchExpressions") or [])
               for term in required.get("nodeSelectorTerms") or [])


def field_matches(selector: str, obj: dict) -> bool:
    """Field selectors on dotted paths (``involvedObject.name=x``, ``metadata.name=y``, ``status.phase=Running``)."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        negate = "!=" in term
        path, value = term.split("!=" if negate else "=", 1)
        current = obj
        for key in path.split("."):
            current = current.get(key) if isinstance(current, dict) else None
        if (str(current) == value) == negate:
            return False
    return True


class FakeKubernetes:
    """The API server and its controllers; see the module docstring. Serve it with :meth:`serve`."""

    def __init__(self, nodes: list[Node] | None = None, namespaces: tuple[str, ...] = ("default", "ci"),
                 token: str = BEARER_TOKEN, speed: float = 1.0, runner: str = "sandbox",
                 forges: dict | None = None, boot_delay: float = 0.0):
        self.nodes = nodes if nodes is not None else [Node(f"node-{i}") for i in range(1, 4)]
        self.namespaces = set(namespaces)
        self.token = token
        self.speed = speed
        #: ``"sandbox"`` (boot the script), ``"settings"`` (only connect the registration) or ``"never"``.
        self.runner = runner
        self.forges = forges or {}
        self.boot_delay = boot_delay
        self.objects: dict[tuple[str, str, str], dict] = {}  # (kind, namespace, name) -> object
        #: Every object a create or patch accepted, as sent (after defaults).
        self.accepted: list[dict] = []
        self.rejected: list[dict] = []
        self.machines: dict[str, Machine] = {}  # pod uid -> sandbox
        #: Sandboxes of deleted pods (given their grace period, then halted), oldest first.
        self.terminated: list[Machine] = []
        #: Exact cluster times the objects show rounded to seconds, by uid: ``started``, ``finished``.
        self._times: dict[str, dict[str, float]] = {}
        self._scheduled: dict[str, float] = {}  # pod uid -> wall clock (monotonic) of its binding to a node
        self.server: FakeForgeServer | None = None
        self._nth_faults: list[list] = []  # [method, path pattern, requests left until the fault, status]
        self._lock = threading.RLock()
        self._versions = itertools.count(1000)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._controller = threading.Thread(target=self._control, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------

    def serve(self) -> FakeForgeServer:
        """A started server; stop it with :meth:`close` (the fixture does, however the test ends)."""
        self.server = FakeForgeServer(self)
        self.server.__enter__()
        self._controller.start()
        return self.server

    def close(self) -> None:
        self._stop.set()
        if self._controller.is_alive():
            self._controller.join(5)
        if self.server is not None:
            self.server.__exit__(None, None, None)
        with self._lock:
            machines = [*self.machines.values(), *self.terminated]
            self.machines.clear()
        for machine in machines:
            machine.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def now(self) -> datetime:
        """The time objects show (the wall clock: the cluster's clock agrees with the client's)."""
        return datetime.now(timezone.utc)

    def clock(self) -> float:
        """Seconds of cluster time since the fake started, for deadlines and TTLs: ``speed`` times the wall clock's."""
        return (time.monotonic() - self._started) * self.speed

    # -- what tests look at -------------------------------------------------------------------------

    def all(self, kind: str, namespace: str | None = None) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                    if k == kind and namespace in (None, ns)]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            found = self.objects.get((kind, namespace, name))
            return copy.deepcopy(found) if found else None

    def add(self, kind: str, namespace: str, obj: dict) -> dict:
        """Store ``obj`` as if created through the API, unchecked (to build a large cluster quickly)."""
        with self._lock:
            obj = {**copy.deepcopy(obj), "status": {}}
            return copy.deepcopy(self._store(kind, namespace, obj))

    def requests_of(self, method: str, kind: str) -> list[Request]:
        """Recorded requests of ``method`` on ``kind`` (``jobs``, ``pods``…)."""
        assert self.server is not None
        return [r for r in self.server.requests
                if r.method == method and (m := PATH.match(r.path)) and m["kind"] == kind]

    def request_counts(self) -> dict[str, int]:
        """``"POST jobs": 3``-style counts of every recorded request."""
        counts: dict[str, int] = {}
        assert self.server is not None
        for request in self.server.requests:
            match = PATH.match(request.path)
            kind = (match["kind"] + ("/" + match["sub"] if match["sub"] else "")
                    + ("" if match["name"] else " (collection)")) if match else request.path
            key = f"{request.method} {kind}"
            counts[key] = counts.get(key, 0) + 1
        return counts

    # -- the API server ---------------------------------------------------------------------------

    def fail_nth(self, method: str, path_pattern: str, nth: int, code: int = 500) -> None:
        """Answer the ``nth`` request (from now, 1 = the next) whose method and path match with an error
        ``Status``. (Delays, resets and lost answers: ``self.server.fail``, applied to the next match.)"""
        self._nth_faults.append([method, re.compile(path_pattern), nth, code])

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization", request.headers.get("authorization")) != f"Bearer {self.token}":
            return status(401, "Unauthorized", "Unauthorized")
        with self._lock:
            for fault in self._nth_faults:
                method, pattern, remaining, code = fault
                if remaining > 0 and request.method == method and pattern.search(request.path):
                    fault[2] -= 1
                    if fault[2] == 0:
                        return status(code, {409: "Conflict", 429: "TooManyRequests"}.get(code, "InternalError"),
                                      "injected by the test")
            return self._route(request)

    @property
    def pending_faults(self) -> int:
        """Faults of :meth:`fail_nth` not yet applied."""
        return sum(1 for fault in self._nth_faults if fault[2] > 0)

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path in ("/api", "/apis", "/api/v1", "/apis/batch/v1", "/version"):
            return Response(200, self._discovery(path))
        if path == "/api/v1/namespaces" and request.method == "GET":
            return Response(200, self._list("namespaces", [self._namespace(n) for n in sorted(self.namespaces)]))
        namespace_only = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)
        if namespace_only and request.method == "GET":
            name = namespace_only[1]
            if name not in self.namespaces:
                return status(404, "NotFound", f'namespaces "{name}" not found',
                              {"name": name, "kind": "namespaces"})
            return Response(200, self._namespace(name))
        match = PATH.match(path)
        if not match:
            return status(404, "NotFound", "the server could not find the requested resource")
        kind, namespace, name, sub = match["kind"], match["namespace"], match["name"], match["sub"]
        api_version = KINDS[kind][0]
        if not path.startswith("/apis/batch/v1" if api_version == "batch/v1" else "/api/v1"):
            return status(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and namespace not in self.namespaces:
            return status(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace,
                                                                                 "kind": "namespaces"})
        query = {key: values[0] for key, values in request.query.items()}
        if request.method == "GET" and name is None:
            items = [o for (k, ns, _), o in sorted(self.objects.items())
                     if k == kind and namespace in (None, ns)
                     and selector_matches(query.get("labelSelector", ""), o["metadata"].get("labels") or {})
                     and field_matches(query.get("fieldSelector", ""), o)]
            return Response(200, self._list(kind, items))
        if request.method == "POST" and name is None and namespace is not None:
            return self._create(kind, namespace, request)
        if request.method == "DELETE" and name is None and namespace is not None:
            victims = [o for (k, ns, _), o in sorted(self.objects.items()) if k == kind and ns == namespace
                       and selector_matches(query.get("labelSelector", ""), o["metadata"].get("labels") or {})]
            for victim in victims:
                self._delete(kind, namespace, victim["metadata"]["name"])
            return Response(200, self._list(kind, victims))
        if name is None or namespace is None:
            return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        key = (kind, namespace, name)
        existing = self.objects.get(key)
        if existing is None:
            group = KINDS[kind][2]
            return status(404, "NotFound", f'{kind}{"." + group if group else ""} "{name}" not found',
                          {"name": name, "group": group, "kind": kind})
        if request.method == "GET" and sub == "log":
            machine = self.machines.get(existing["metadata"]["uid"])
            return Response(200, (machine.log if machine else "").encode(), {"Content-Type": "text/plain"})
        if request.method == "GET":
            return Response(200, existing)
        if request.method == "PATCH":
            return self._patch(kind, namespace, existing, request)
        if request.method == "DELETE":
            body = request.json() or {}
            policy = body.get("propagationPolicy") or query.get("propagationPolicy") or (
                "Orphan" if kind == "jobs" else "Background")
            self._delete(kind, namespace, name, orphan=policy == "Orphan")
            return Response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                  "details": {"name": name, "group": KINDS[kind][2], "kind": kind,
                                              "uid": existing["metadata"]["uid"]}})
        return status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    def _discovery(self, path: str) -> dict:
        if path == "/version":
            major, minor, _ = KUBERNETES_VERSION.split(".")
            return {"major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]}
        group_version = "v1" if path == "/api/v1" else "batch/v1"
        resources = [{"name": kind, "singularName": KINDS[kind][1].lower(), "namespaced": kind != "namespaces",
                      "kind": KINDS[kind][1], "verbs": ["create", "delete", "deletecollection", "get", "list",
                                                        "patch"]}
                     for kind in KINDS if KINDS[kind][0] == group_version]
        return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}

    def _namespace(self, name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": f"ns-{name}"},
                "status": {"phase": "Active"}}

    def _list(self, kind: str, items: list[dict]) -> dict:
        api_version, object_kind, _ = KINDS[kind]
        return {"apiVersion": api_version, "kind": f"{object_kind}List",
                "metadata": {"resourceVersion": str(next(self._versions))}, "items": items}

    # -- create, patch, delete ------------------------------------------------------------------------

    def _invalid(self, kind: str, name: str, causes: list[tuple[str, str]]) -> Response:
        object_kind, group = KINDS[kind][1], KINDS[kind][2]
        qualified = f"{object_kind}.{group}" if group else object_kind
        text = ", ".join(f"{where}: {what}" if where else what for where, what in causes)
        return status(422, "Invalid", f'{qualified} "{name}" is invalid: {text}',
                      {"name": name, "group": group, "kind": object_kind,
                       "causes": [{"reason": "FieldValueInvalid", "message": what, "field": where}
                                  for where, what in causes]})

    def check(self, kind: str, obj: dict) -> list[tuple[str, str]]:
        """What the API server would refuse in ``obj``: schema violations first, then its own checks."""
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path)
            return [(where, error.message)]
        causes: list[tuple[str, str]] = []
        metadata = obj.get("metadata") or {}
        name = metadata.get("name", "")
        limit = 63 if kind == "jobs" else 253
        if not name or len(name) > limit or not DNS_SUBDOMAIN.fullmatch(name):
            causes.append(("metadata.name", f"Invalid value: {name!r}: a lowercase RFC 1123 name of at most "
                                            f"{limit} characters is required"))
        labelled = [("metadata.labels", metadata.get("labels") or {})]
        if kind == "jobs":
            template = (obj.get("spec") or {}).get("template") or {}
            labelled.append(("spec.template.metadata.labels", (template.get("metadata") or {}).get("labels") or {}))
            restart = (template.get("spec") or {}).get("restartPolicy")
            if restart not in ("Never", "OnFailure"):
                causes.append(("spec.template.spec.restartPolicy",
                               f'Unsupported value: "{restart}": supported values: "OnFailure", "Never"'))
            for where in ("activeDeadlineSeconds", "ttlSecondsAfterFinished", "backoffLimit"):
                value = (obj.get("spec") or {}).get(where)
                if value is not None and (value < 0 or (where == "activeDeadlineSeconds" and value == 0)):
                    causes.append((f"spec.{where}", f"Invalid value: {value}: must be greater than"
                                                    f"{'' if where == 'activeDeadlineSeconds' else ' or equal to'} 0"))
            containers = ((template.get("spec") or {}).get("containers") or [])
            for index, container in enumerate(containers):
                for section in ("limits", "requests"):
                    for resource, value in ((container.get("resources") or {}).get(section) or {}).items():
                        try:
                            quantity(value)
                        except ValueError as error:
                            causes.append((f"spec.template.spec.containers[{index}].resources.{section}"
                                           f"[{resource}]", f"Invalid value: {value!r}: {error}"))
        for where, labels in labelled:
            for key, value in labels.items():
                prefix, _, bare = key.rpartition("/")
                if not bare or len(bare) > 63 or not LABEL_NAME.fullmatch(bare) or (
                        prefix and not DNS_SUBDOMAIN.fullmatch(prefix)):
                    causes.append((where, f"Invalid value: {key!r}: name part must consist of alphanumeric "
                                          f"characters, '-', '_' or '.'"))
                if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
                    causes.append((f"{where}", f"Invalid value: {value!r}: a valid label must be an empty string "
                                               f"or consist of alphanumeric characters, '-', '_' or '.', and must "
                                               f"start and end with an alphanumeric character (at most 63)"))
        if kind == "secrets":
            for key, value in (obj.get("data") or {}).items():
                try:
                    base64.b64decode(value, validate=True)
                except ValueError:
                    causes.append((f"data[{key}]", "Invalid value: illegal base64 data"))
        return causes

    def _create(self, kind: str, namespace: str, request: Request) -> Response:
        try:
            obj = request.json()
        except ValueError:
            return status(400, "BadRequest", "the object provided is unrecognized (must be JSON)")
        if not isinstance(obj, dict):
            return status(400, "BadRequest", "the object provided is unrecognized")
        api_version, object_kind, _ = KINDS[kind]
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", object_kind)
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
        if metadata.get("namespace") not in (None, namespace):
            return status(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                             "sent on the request")
        causes = self.check(kind, obj)
        if obj["apiVersion"] != api_version or obj["kind"] != object_kind:
            causes.append(("kind", f"Invalid value: {obj['kind']!r}: must be {object_kind} ({api_version})"))
        if causes:
            self.rejected.append(obj)
            return self._invalid(kind, metadata.get("name", ""), causes)
        name = metadata["name"]
        if (kind, namespace, name) in self.objects:
            group = KINDS[kind][2]
            return status(409, "AlreadyExists", f'{kind}{"." + group if group else ""} "{name}" already exists',
                          {"name": name, "group": group, "kind": kind})
        if request.query.get("dryRun"):
            return Response(201, obj)
        stored = self._store(kind, namespace, obj)
        self.accepted.append(copy.deepcopy(stored))
        return Response(201, stored)

    def _store(self, kind: str, namespace: str, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        metadata = obj["metadata"]
        metadata.update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=str(next(self._versions)),
                        creationTimestamp=now_text(self.now()))
        if kind == "jobs":
            spec = obj["spec"]
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("parallelism", 1)
            spec.setdefault("completions", spec["parallelism"])
            template_labels = spec["template"].setdefault("metadata", {}).setdefault("labels", {})
            template_labels.update({"controller-uid": metadata["uid"], "job-name": metadata["name"],
                                    "batch.kubernetes.io/controller-uid": metadata["uid"],
                                    "batch.kubernetes.io/job-name": metadata["name"]})
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": metadata["uid"]}})
            obj["status"] = {}
        if kind == "secrets":
            obj.setdefault("type", "Opaque")
            for key, value in (obj.pop("stringData", None) or {}).items():
                obj.setdefault("data", {})[key] = base64.b64encode(value.encode()).decode()
        self.objects[(kind, namespace, metadata["name"])] = obj
        return obj

    def _patch(self, kind: str, namespace: str, existing: dict, request: Request) -> Response:
        content_type = request.headers.get("Content-Type", "")
        patch = request.json()
        if "json-patch" in content_type:
            return status(415, "UnsupportedMediaType", "the fake supports merge patches only")

        def merge(target: dict, changes: dict) -> dict:
            for key, value in changes.items():
                if value is None:
                    target.pop(key, None)
                elif isinstance(value, dict) and isinstance(target.get(key), dict):
                    merge(target[key], value)
                else:
                    target[key] = value
            return target

        patched = merge(copy.deepcopy(existing), patch)
        for immutable in ("name", "namespace", "uid"):
            if patched["metadata"].get(immutable) != existing["metadata"].get(immutable):
                return self._invalid(kind, existing["metadata"]["name"], [(f"metadata.{immutable}",
                                                                            "field is immutable")])
        checked = {k: v for k, v in patched.items() if k != "status"}
        checked["metadata"] = {k: v for k, v in patched["metadata"].items()
                               if k not in ("uid", "resourceVersion", "creationTimestamp", "namespace")}
        causes = self.check(kind, checked)
        if causes:
            self.rejected.append(patched)
            return self._invalid(kind, existing["metadata"]["name"], causes)
        patched["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[(kind, namespace, existing["metadata"]["name"])] = patched
        self.accepted.append(copy.deepcopy(patched))
        return Response(200, patched)

    def _delete(self, kind: str, namespace: str, name: str, orphan: bool = False) -> None:
        """Delete the object and, unless ``orphan``, every object it owns (garbage collection)."""
        obj = self.objects.pop((kind, namespace, name), None)
        if obj is None:
            return
        uid = obj["metadata"]["uid"]
        self._times.pop(uid, None)
        self._scheduled.pop(uid, None)
        machine = self.machines.pop(uid, None)
        if machine is not None:
            grace = obj["spec"].get("terminationGracePeriodSeconds", 30) / self.speed
            self.terminated.append(machine)
            threading.Thread(target=self._terminate, args=(machine, min(grace, MAX_GRACE_SECONDS)),
                             daemon=True).start()
        for (other_kind, other_ns, other_name), other in list(self.objects.items()):
            owners = other["metadata"].get("ownerReferences") or []
            if other_ns == namespace and any(owner.get("uid") == uid for owner in owners):
                if orphan:
                    other["metadata"]["ownerReferences"] = [o for o in owners if o.get("uid") != uid]
                else:
                    self._delete(other_kind, other_ns, other_name)

    # -- the control plane --------------------------------------------------------------------------

    def _control(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                for key, job in [(k, o) for k, o in list(self.objects.items()) if k[0] == "jobs"]:
                    if key in self.objects:
                        self._reconcile(key[1], job)

    def _reconcile(self, namespace: str, job: dict) -> None:
        spec, state, metadata = job["spec"], job["status"], job["metadata"]
        now = self.clock()
        conditions = state.setdefault("conditions", [])
        times = self._times.setdefault(metadata["uid"], {})
        if "finished" in times:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and now >= times["finished"] + ttl:
                self._delete("jobs", namespace, metadata["name"])
            return
        state.setdefault("startTime", now_text(self.now()))
        started = times.setdefault("started", now)
        pods = [p for (k, ns, _), p in self.objects.items() if k == "pods" and ns == namespace
                and any(o.get("uid") == metadata["uid"] for o in p["metadata"].get("ownerReferences") or [])]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and now >= started + deadline:
            for pod in pods:
                self._delete("pods", namespace, pod["metadata"]["name"])
            self._fail(job, "DeadlineExceeded", "Job was active longer than specified deadline")
            return
        for pod in pods:
            self._finish_if_exited(namespace, pod)
        failed = [p for p in pods if p["status"].get("phase") == "Failed"]
        succeeded = [p for p in pods if p["status"].get("phase") == "Succeeded"]
        if len(failed) > spec.get("backoffLimit", 6):
            self._fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
            return
        if len(succeeded) >= spec.get("completions", 1):
            state["completionTime"] = now_text(self.now())
            times["finished"] = now
            conditions.append({"type": "Complete", "status": "True", "lastTransitionTime": now_text(self.now())})
            state["succeeded"] = len(succeeded)
            return
        active = [p for p in pods if p["status"].get("phase") in ("Pending", "Running")]
        wanted = min(spec.get("parallelism", 1), spec.get("completions", 1) - len(succeeded))
        for _ in range(wanted - len(active)):
            active.append(self._create_pod(namespace, job))
        for pod in active:
            self._schedule(namespace, pod)
        state["active"] = len([p for p in active if p["status"].get("phase") in ("Pending", "Running")])
        state["ready"] = len([p for p in active if p["status"].get("phase") == "Running"])
        state["failed"], state["succeeded"] = len(failed), len(succeeded)

    def _fail(self, job: dict, reason: str, message: str) -> None:
        self._times.setdefault(job["metadata"]["uid"], {})["finished"] = self.clock()
        at = now_text(self.now())
        job["status"]["conditions"].append({"type": "Failed", "status": "True", "reason": reason,
                                            "message": message, "lastTransitionTime": at})
        job["status"]["active"] = 0

    def _create_pod(self, namespace: str, job: dict) -> dict:
        template = job["spec"]["template"]
        name = f"{job['metadata']['name']}-{secrets.token_hex(3)[:5]}"
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": dict(template["metadata"]["labels"]),
                            "annotations": dict(template["metadata"].get("annotations") or {}),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                 "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": copy.deepcopy(template["spec"]), "status": {"phase": "Pending", "conditions": []}}
        return self._store("pods", namespace, pod)

    def _requests(self, pod: dict) -> dict[str, float]:
        total = {"cpu": 0.0, "memory": 0.0, "nvidia.com/gpu": 0.0}
        for container in pod["spec"].get("containers") or []:
            resources = container.get("resources") or {}
            wanted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
            for resource, value in wanted.items():
                total[resource] = total.get(resource, 0.0) + quantity(value)
        return total

    def _fits(self, node: Node, pod: dict, used: dict[str, float]) -> str | None:
        """Why ``pod`` does not fit ``node`` (the scheduler's words), or ``None``."""
        selector = pod["spec"].get("nodeSelector") or {}
        if any(node.labels.get(key) != value for key, value in selector.items()) or not affinity_matches(
                pod["spec"].get("affinity") or {}, node.labels):
            return "node(s) didn't match Pod's node affinity/selector"
        tolerations = pod["spec"].get("tolerations") or []
        for taint in node.taints:
            tolerated = any((t.get("operator") == "Exists" and t.get("key") in (None, taint["key"]))
                            or (t.get("key") == taint["key"] and t.get("value") == taint.get("value"))
                            for t in tolerations)
            if not tolerated and taint.get("effect") in ("NoSchedule", "NoExecute"):
                return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
        wanted = self._requests(pod)
        for resource, capacity in (("cpu", node.cpu), ("memory", node.memory), ("nvidia.com/gpu", node.gpus)):
            if wanted.get(resource, 0) + used.get(resource, 0) > capacity:
                return f"Insufficient {resource}"
        return None

    def _schedule(self, namespace: str, pod: dict) -> None:
        state = pod["status"]
        if pod["spec"].get("nodeName"):
            scheduled = self._scheduled.get(pod["metadata"]["uid"], 0.0)
            if state["phase"] != "Pending" or scheduled + self.boot_delay > time.monotonic():
                return
            missing = self._missing_secrets(namespace, pod)
            if not missing:
                self._run(namespace, pod)
            elif not state.get("containerStatuses") and time.monotonic() - scheduled > MOUNT_RETRY_SECONDS:
                container = pod["spec"]["containers"][0]
                state["containerStatuses"] = [{"name": container["name"], "image": container.get("image", ""),
                                               "imageID": "", "ready": False, "restartCount": 0,
                                               "state": {"waiting": {"reason": "ContainerCreating"}}}]
                volume = next(v["name"] for v in pod["spec"].get("volumes") or []
                              if (v.get("secret") or {}).get("secretName") == missing[0])
                self._event(namespace, pod, "Warning", "FailedMount",
                            f'MountVolume.SetUp failed for volume "{volume}" : secret "{missing[0]}" not found')
            return
        used: dict[str, dict[str, float]] = {node.name: {} for node in self.nodes}
        for (k, _, _), other in self.objects.items():
            if k == "pods" and other["spec"].get("nodeName") in used and other["status"]["phase"] in (
                    "Pending", "Running"):
                for resource, amount in self._requests(other).items():
                    node_use = used[other["spec"]["nodeName"]]
                    node_use[resource] = node_use.get(resource, 0.0) + amount
        reasons: dict[str, int] = {}
        for node in self.nodes:
            reason = self._fits(node, pod, used[node.name])
            if reason is None:
                pod["spec"]["nodeName"] = node.name
                state["conditions"] = [{"type": "PodScheduled", "status": "True",
                                        "lastTransitionTime": now_text(self.now())}]
                self._scheduled[pod["metadata"]["uid"]] = time.monotonic()
                self._event(namespace, pod, "Normal", "Scheduled",
                            f"Successfully assigned {namespace}/{pod['metadata']['name']} to {node.name}")
                return
            reasons[reason] = reasons.get(reason, 0) + 1
        details = " ".join(f"{count} {reason}." for reason, count in sorted(reasons.items()))
        message = f"0/{len(self.nodes)} nodes are available: {details}".rstrip()
        if not self.nodes:
            message = "no nodes available to schedule pods"
        if not state["conditions"]:
            state["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                    "message": message, "lastTransitionTime": now_text(self.now())}]
            self._event(namespace, pod, "Warning", "FailedScheduling", message)

    def _finish_if_exited(self, namespace: str, pod: dict) -> None:
        """A running pod whose startup script has exited succeeds (exit code 0) or fails."""
        machine = self.machines.get(pod["metadata"]["uid"])
        if pod["status"].get("phase") != "Running" or machine is None or machine.process is None or (
                not machine.exited()):
            return
        code = machine.process.returncode
        pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"
        pod["status"]["containerStatuses"] = [{
            "name": pod["spec"]["containers"][0]["name"], "image": pod["spec"]["containers"][0].get("image", ""),
            "imageID": "", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                     "finishedAt": now_text(self.now())}}}]
        self._event(namespace, pod, "Normal", "Killing" if code else "Completed", f"container exited with {code}")

    def _event(self, namespace: str, pod: dict, kind: str, reason: str, message: str) -> None:
        name = f"{pod['metadata']['name']}.{secrets.token_hex(8)}"
        at = now_text(self.now())
        self._store("events", namespace, {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod["metadata"]["name"],
                               "uid": pod["metadata"]["uid"], "apiVersion": "v1"},
            "reason": reason, "message": message, "type": kind, "count": 1, "firstTimestamp": at,
            "lastTimestamp": at, "source": {"component": "default-scheduler"}})

    # -- the kubelet ------------------------------------------------------------------------------

    def _missing_secrets(self, namespace: str, pod: dict) -> list[str]:
        """The Secrets the pod mounts that do not exist: until they do, the kubelet cannot start its container."""
        names = [v["secret"]["secretName"] for v in pod["spec"].get("volumes") or []
                 if v.get("secret") and not v["secret"].get("optional")]
        return [name for name in names if ("secrets", namespace, name) not in self.objects]

    def _terminate(self, machine: Machine, grace: float) -> None:
        """What the kubelet does to a deleted pod: SIGTERM to the container's first process (the script),
        SIGKILL to everything after the grace period."""
        with contextlib.suppress(ProcessLookupError, AttributeError):
            os.kill(machine.process.pid, signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and machine.process is not None and machine.process.poll() is None:
            time.sleep(0.05)
        with contextlib.suppress(OSError):  # the fake may have closed (and removed) the sandbox meanwhile
            machine.halt()  # the sandbox stays for the test to read; close() removes it

    def _secret_values(self, namespace: str, pod: dict) -> tuple[dict[str, bytes], dict[str, str]]:
        """The files the pod's Secret volumes mount (by path) and the environment it gets from Secrets."""
        files: dict[str, bytes] = {}
        env: dict[str, str] = {}

        def secret_data(name: str) -> dict[str, bytes]:
            secret = self.objects.get(("secrets", namespace, name)) or {}
            return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}

        volumes = {v["name"]: v["secret"] for v in pod["spec"].get("volumes") or [] if v.get("secret")}
        for container in pod["spec"].get("containers") or []:
            for mount in container.get("volumeMounts") or []:
                source = volumes.get(mount["name"])
                if source is not None:
                    for key, value in secret_data(source["secretName"]).items():
                        files[f"{mount['mountPath'].rstrip('/')}/{key}"] = value
            for source in container.get("envFrom") or []:
                if source.get("secretRef"):
                    env.update({k: v.decode(errors="replace")
                                for k, v in secret_data(source["secretRef"]["name"]).items()})
            for variable in container.get("env") or []:
                reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if reference:
                    value = secret_data(reference["name"]).get(reference["key"], b"")
                    env[variable["name"]] = value.decode(errors="replace")
                elif "value" in variable:
                    env[variable["name"]] = variable["value"]
        return files, env

    def startup_of(self, namespace: str, pod: dict) -> tuple[str, dict[str, str]]:
        """The startup script the pod's container runs (the mounted file with ``CML_…`` settings, gzip or not)
        and the environment it gets."""
        files, env = self._secret_values(namespace, pod)
        for content in files.values():
            text = (gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content).decode(errors="replace")
            if re.search(r"^CML_FORGE=", text, re.MULTILINE):
                return text, env
        return "", env

    def settings_of(self, namespace: str, pod: dict) -> dict[str, str]:
        """The ``CML_…`` startup settings the pod receives: from its script, then from its environment."""
        script, env = self.startup_of(namespace, pod)
        return {**read_settings(script.encode()), **{k: v for k, v in env.items() if k.startswith("CML_")}}

    def _run(self, namespace: str, pod: dict) -> None:
        pod["status"].update(phase="Running", startTime=now_text(self.now()), hostIP="10.0.0.1",
                             podIP=f"10.1.0.{len(self.machines) + 2}")
        pod["status"]["conditions"].append({"type": "Ready", "status": "True",
                                            "lastTransitionTime": now_text(self.now())})
        pod["status"]["containerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
             "started": True, "state": {"running": {"startedAt": now_text(self.now())}}}
            for c in pod["spec"].get("containers") or []]
        self._event(namespace, pod, "Normal", "Started", "Started container runner")
        script, env = self.startup_of(namespace, pod)
        settings = self.settings_of(namespace, pod)
        if self.runner == "never" or not settings.get("CML_FORGE"):
            return
        store = self.forges[settings["CML_FORGE"]].runner_store
        if self.runner == "settings":
            bring_online(store, settings)
            return
        machine = Machine(poll_seconds=0.2)
        self.machines[pod["metadata"]["uid"]] = machine
        threading.Thread(target=self._boot, args=(machine, store, settings, script, env), daemon=True).start()

    def _boot(self, machine: Machine, store, settings: dict[str, str], script: str, env: dict[str, str]) -> None:
        """Run the pod's startup script, as the Secret holds it, in the sandbox; once its runner process starts,
        the runner is online."""
        with contextlib.suppress(Exception):  # the pod may be deleted while it boots
            with self._lock:
                if machine not in self.machines.values():  # deleted, or the fake closed, before it booted
                    return
                machine.boot_script(sandboxed(script, machine), extra_env={
                    k: v for k, v in env.items() if k != "CML_RUNNER_HOME"})
            started = machine.wait_for("gitlab-runner start" if settings["CML_FORGE"] == "gitlab" else "run.sh start",
                                       timeout=30)
            machine.record("kubelet", "online", started.detail)
            with self._lock:
                if machine in self.machines.values():
                    bring_online(store, settings)



def write_kubeconfig(path: Path, url: str, token: str = BEARER_TOKEN, namespace: str = "ci",
                     context: str = "fake") -> Path:
    """A kubeconfig whose current context reaches the fake on loopback with a bearer token."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": context,
              "clusters": [{"name": "fake-cluster", "cluster": {"server": url}}],
              "users": [{"name": "ci-bot", "user": {"token": token}}],
              "contexts": [{"name": context, "context": {"cluster": "fake-cluster", "user": "ci-bot",
                                                          "namespace": namespace}}]}
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path
