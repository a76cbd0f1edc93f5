"""A real MLflow tracking server (``mlflow server``, SQLite backend, proxied artifacts) on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests


class TrackingServer:
    """Started and stopped as a context manager; ``url`` is its address."""

    def __init__(self, folder):
        self.folder = os.fspath(folder)

    def __enter__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(self.folder, "server.log")
        self._log = open(self.log_path, "wb")
        env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{os.path.join(self.folder, 'mlflow.db')}",
             "--artifacts-destination", os.path.join(self.folder, "artifacts")],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.folder)
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                with open(self.log_path, errors="replace") as log:
                    raise RuntimeError(f"mlflow server did not start:\n{log.read()[-3000:]}")
            time.sleep(0.2)

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
