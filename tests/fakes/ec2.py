"""EC2 around moto's server: a recording, fault-injecting proxy, and machines that "boot".

:class:`Ec2Proxy` sits between cml and moto on loopback: it keeps every EC2 Query API
request (so tests check exactly what RunInstances asked for) and answers chosen
actions with an AWS error instead of forwarding them.

:class:`MachineFleet` plays the instances' side: it watches moto for instances tagged
``cml:runner``, reads their user data as EC2 would hand it to cloud-init, and does what
the startup script would do with the forge: bring the runner online with the
registration material found there (or never, or power off at once).
"""

from __future__ import annotations

import contextlib

import base64
import gzip
import json
import os
import re
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

from tests.fakes.processes import ServerProcess, free_port
from tests.fakes.server import LoopbackServer, write_response


#: Machine images the moto server starts with, as AWS and Canonical publish them (newest last).
PUBLISHED_IMAGES = [
    {"ami_id": "ami-0d1a0000000000001", "name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20250910",
     "owner_id": "898082745236", "architecture": "x86_64", "creation_date": "2025-09-10T00:00:00.000Z"},
    {"ami_id": "ami-0d1a0000000000002", "name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261101",
     "owner_id": "898082745236", "architecture": "x86_64", "creation_date": "2026-11-01T00:00:00.000Z"},
    {"ami_id": "ami-0d1a0000000000003",
     "name": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20261101",
     "owner_id": "898082745236", "architecture": "arm64", "creation_date": "2026-11-01T00:00:00.000Z"},
    {"ami_id": "ami-0c0a0000000000001", "name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261015",
     "owner_id": "099720109477", "architecture": "x86_64", "creation_date": "2026-10-15T00:00:00.000Z"},
]


class MotoServer(ServerProcess):
    """``python -m moto.server`` on a free loopback port, with instance-type, AMI and key-pair validation on
    and :data:`PUBLISHED_IMAGES` as the images AWS and Canonical publish."""

    def __init__(self, folder):
        images = os.path.join(folder, "amis.json")
        with open(images, "w") as file:
            json.dump([{**image, "public": True, "virtualization_type": "hvm", "state": "available",
                        "root_device_name": "/dev/sda1", "root_device_type": "ebs"}
                       for image in PUBLISHED_IMAGES], file)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                         health_url=f"{self.url}/moto-api/", log_path=os.path.join(folder, "moto.log"),
                         env={**os.environ, "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true",
                              "MOTO_ENABLE_AMI_VALIDATION": "true", "MOTO_ENABLE_KEYPAIR_VALIDATION": "true",
                              "MOTO_AMIS_PATH": images})


@dataclass
class Ec2Fault:
    """Answer the next ``times`` requests for ``action`` (whose params include ``when``) with an AWS error."""

    action: str
    code: str
    status: int = 400
    message: str = "injected by the test"
    times: int = 1
    when: dict = field(default_factory=dict)
    #: Forward the request first, then answer with the error (the answer is "lost").
    after: bool = False

    def matches(self, params: dict) -> bool:
        return (self.times > 0 and params.get("Action") == self.action
                and all(params.get(key) == value for key, value in self.when.items()))


class Ec2Proxy(LoopbackServer):
    def __init__(self, upstream: str):
        self.upstream = upstream
        self.requests: list[dict] = []
        self.faults: list[Ec2Fault] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params = {key: values[0] for key, values in parse_qs(body.decode(), keep_blank_values=True).items()}
                with proxy._lock:
                    proxy.requests.append(params)
                    fault = next((f for f in proxy.faults if f.matches(params)), None)
                    if fault:
                        fault.times -= 1
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                if fault and fault.after:
                    requests.post(proxy.upstream + self.path, data=body, headers=forwarded, timeout=30)
                if fault:
                    status = fault.status
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{fault.code}'
                               f"</Code><Message>{fault.message}</Message></Error></Errors>"
                               f"<RequestID>fault</RequestID></Response>").encode()
                    headers = {"Content-Type": "text/xml"}
                else:
                    answer = requests.post(proxy.upstream + self.path, data=body, headers=forwarded, timeout=30)
                    status, payload = answer.status_code, answer.content
                    headers = {"Content-Type": answer.headers.get("Content-Type", "text/xml")}
                write_response(self, status, headers, payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def fail(self, action: str, code: str, **fault) -> None:
        self.faults.append(Ec2Fault(action, code, **fault))

    def actions(self) -> list[str]:
        return [r.get("Action", "") for r in self.requests]

    def last(self, action: str) -> dict:
        return [r for r in self.requests if r.get("Action") == action][-1]


def read_settings(user_data: bytes) -> dict[str, str]:
    """The ``CML_…=value`` settings at the top of a startup script (plain or gzip user data)."""
    if user_data[:2] == b"\x1f\x8b":
        user_data = gzip.decompress(user_data)
    settings = {}
    for line in user_data.decode().splitlines():
        match = re.fullmatch(r"(CML_[A-Z0-9_]+)=(.*)", line)
        if match:
            settings[match[1]] = shlex.split(match[2])[0] if match[2] else ""
    return settings


class MachineFleet:
    """Boots every ``cml:runner`` instance moto holds: ``behaviour`` is ``"connect"`` (the runner comes
    online), ``"register-only"`` (GitHub's config.sh registers it but it never connects), ``"never"``
    (nothing reaches the forge), or ``"power-off"`` (the script fails at once and the instance
    terminates itself)."""

    def __init__(self, ec2_clients: list, forges: dict, behaviour: str = "connect", delay: float = 0.0):
        self.clients = ec2_clients
        self.delay = delay
        self.forges = forges  # "github"/"gitlab" -> fake with a runner_store
        self.behaviour = behaviour
        self.booted: dict[str, dict] = {}  # instance id -> settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # moto may be between states; look again
                self._boot_new()
            time.sleep(0.05)

    def _boot_new(self) -> None:
        for client in self.clients:
            self._boot_in(client)

    def _boot_in(self, ec2) -> None:
        reservations = ec2.describe_instances(Filters=[
            {"Name": "tag-key", "Values": ["cml:runner"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
        for instance in (i for r in reservations for i in r["Instances"]):
            if instance["InstanceId"] in self.booted:
                continue
            raw = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")
            settings = read_settings(base64.b64decode(raw["UserData"]["Value"]))
            self.booted[instance["InstanceId"]] = settings
            self._act(ec2, instance["InstanceId"], settings)

    def _act(self, ec2, instance_id: str, settings: dict[str, str]) -> None:
        time.sleep(self.delay)
        if self.behaviour == "power-off":
            ec2.terminate_instances(InstanceIds=[instance_id])
            return
        if self.behaviour not in ("connect", "register-only"):
            return
        store = self.forges[settings["CML_FORGE"]].runner_store
        if self.behaviour == "register-only":
            store.configure(settings["CML_GITHUB_REGISTRATION_TOKEN"], settings["CML_RUNNER_NAME"], [])
            store.named(settings["CML_RUNNER_NAME"])["status"] = "offline"
            return
        bring_online(store, settings)


def bring_online(store, settings: dict[str, str]) -> None:
    """What a booted machine's runner does with its registration material: connect to the forge."""
    if settings.get("CML_GITHUB_JITCONFIG"):
        store.connect_jit(settings["CML_GITHUB_JITCONFIG"])
    elif settings.get("CML_GITHUB_REGISTRATION_TOKEN"):
        store.configure(settings["CML_GITHUB_REGISTRATION_TOKEN"], settings["CML_RUNNER_NAME"],
                        settings["CML_RUNNER_LABELS"].split(","))
    elif settings.get("CML_GITLAB_RUNNER_TOKEN"):
        store.connect_token(settings["CML_GITLAB_RUNNER_TOKEN"])
