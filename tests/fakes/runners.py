"""Self-hosted runner registrations as a forge stores them, shared by the GitHub and GitLab fakes.

The fakes create registrations through their APIs; :class:`tests.fakes.machines.MachineFleet`
plays the booted machine and brings them online with the material it finds in the user data.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading


class RunnerStore:
    def __init__(self, token_prefix: str = ""):
        self.runners: dict[int, dict] = {}
        self.registration_tokens: set[str] = set()
        self.removal_tokens: set[str] = set()
        self.jit_configs: dict[str, int] = {}
        self.authentication_tokens: dict[str, int] = {}  # GitLab glrt- tokens
        self.events: list[tuple[str, str]] = []
        self.token_prefix = token_prefix
        self._ids = itertools.count(71)
        self._lock = threading.Lock()

    def _token(self, prefix: str) -> str:
        return prefix + secrets.token_hex(12).upper()

    # -- what the forge's API does -------------------------------------------------------------

    def issue_registration_token(self) -> str:
        token = self._token("AREG")
        self.registration_tokens.add(token)
        return token

    def issue_removal_token(self) -> str:
        token = self._token("AREM")
        self.removal_tokens.add(token)
        return token

    def named(self, name: str) -> dict | None:
        return next((r for r in self.runners.values() if r["name"] == name), None)

    def create(self, name: str, labels: list[str], ephemeral: bool = False, **extra) -> dict:
        with self._lock:
            runner = {"id": next(self._ids), "name": name, "labels": list(labels), "status": "offline",
                      "busy": False, "ephemeral": ephemeral, **extra}
            self.runners[runner["id"]] = runner
            self.events.append(("create", name))
            return runner

    def jit_config(self, runner: dict) -> str:
        encoded = base64.b64encode(json.dumps({".runner": runner["id"], "nonce": secrets.token_hex(16)}).encode()).decode()
        self.jit_configs[encoded] = runner["id"]
        return encoded

    def glrt_token(self, runner: dict) -> str:
        token = self._token("glrt-")
        self.authentication_tokens[token] = runner["id"]
        return token

    def delete(self, runner_id: int) -> str:
        """``"deleted"``, ``"missing"`` or ``"busy"``."""
        with self._lock:
            runner = self.runners.get(runner_id)
            if runner is None:
                return "missing"
            if runner["busy"]:
                return "busy"
            del self.runners[runner_id]
            self.events.append(("delete", runner["name"]))
            return "deleted"

    # -- what the machine does -----------------------------------------------------------------

    def connect_jit(self, encoded: str) -> bool:
        runner = self.runners.get(self.jit_configs.pop(encoded, -1))
        if runner is not None:
            runner["status"] = "online"
        return runner is not None

    def configure(self, registration_token: str, name: str, labels: list[str]) -> bool:
        """``config.sh --token`` then ``run.sh``: the runner appears, online, with the default labels."""
        if registration_token not in self.registration_tokens:
            return False
        runner = self.create(name, ["self-hosted", "Linux", "X64", *labels])
        runner["status"] = "online"
        return True

    def connect_token(self, token: str) -> bool:
        runner = self.runners.get(self.authentication_tokens.get(token, -1))
        if runner is not None:
            runner["status"] = "online"
        return runner is not None
