"""A real MLflow tracking server (``mlflow server``, SQLite backend, proxied artifacts) on a free loopback port."""

from __future__ import annotations

import os
import sys

from tests.fakes.processes import ServerProcess, free_port


class TrackingServer(ServerProcess):
    """Started and stopped as a context manager (with the uvicorn workers it starts); ``url`` is its address."""

    def __init__(self, folder):
        folder = os.fspath(folder)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{os.path.join(folder, 'mlflow.db')}",
             "--artifacts-destination", os.path.join(folder, "artifacts")],
            health_url=f"{self.url}/health", log_path=os.path.join(folder, "server.log"),
            # Server-side jobs (a runner and eight huey consumers) are not used by the tests and load a small machine.
            env={**os.environ, "MLFLOW_TRACKING_URI": "", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, cwd=folder)
