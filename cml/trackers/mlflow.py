"""MLflow runs through the tracking server's REST API (``/api/2.0/mlflow/…``), with requests.

The server comes from ``MLFLOW_TRACKING_URI`` (``http(s)://…``); authentication from
``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``
(basic), TLS from ``MLFLOW_TRACKING_INSECURE_TLS``, ``MLFLOW_TRACKING_SERVER_CERT_PATH`` and
``MLFLOW_TRACKING_CLIENT_CERT_PATH``. Requests follow the shared HTTP policy (time-outs, retries).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from cml.errors import ServiceError, ServiceUnavailableError
from cml.fileio import write_atomic
from cml.http import HttpPolicy, JsonApi
from cml.secrets import register_secret
from cml.trackers import History, RunData, TrackerError, coerce_param

GIT_COMMIT_TAG = "mlflow.source.git.commit"


class MlflowServer:
    """A tracking server. Calls ``runs/get``, ``experiments/get-by-name``, ``runs/search``,
    ``metrics/get-history``, ``artifacts/list`` and ``/get-artifact``."""

    def __init__(self, tracking_uri: str | None, environ: Mapping[str, str]):
        uri = (tracking_uri or environ.get("MLFLOW_TRACKING_URI") or "").strip().rstrip("/")
        if not uri:
            raise TrackerError("no MLflow tracking server: set MLFLOW_TRACKING_URI (http://HOST:PORT) or pass "
                               "--mlflow-tracking-uri")
        if not uri.startswith(("http://", "https://")):
            raise TrackerError(f"MLFLOW_TRACKING_URI '{uri}' is not a tracking server: cml reads runs through the "
                               f"server's REST API, so give its http(s):// address")
        self.uri = uri
        headers = {}
        token = environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            register_secret(token)
            headers["Authorization"] = f"Bearer {token}"
        self.api = JsonApi(uri, headers, HttpPolicy.from_environment(environ), "MLflow")
        user, password = environ.get("MLFLOW_TRACKING_USERNAME"), environ.get("MLFLOW_TRACKING_PASSWORD")
        if user and password:
            register_secret(password)
            self.api.session.auth = (user, password)
        if environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            self.api.session.verify = False
        elif environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH"):
            self.api.session.verify = environ["MLFLOW_TRACKING_SERVER_CERT_PATH"]
        if environ.get("MLFLOW_TRACKING_CLIENT_CERT_PATH"):
            self.api.session.cert = environ["MLFLOW_TRACKING_CLIENT_CERT_PATH"]

    def _json(self, method: str, path: str, action: str, **kwargs) -> dict:
        try:
            return self.api.json(method, f"/api/2.0/mlflow/{path}", action, **kwargs) or {}
        except ServiceError as error:
            raise TrackerError(f"MLflow at {self.uri}: {action} failed: {_reason(error)}") from None

    def run(self, run_id: str) -> RunData:
        """``GET runs/get``: params and the latest value of every metric."""
        document = self._json("GET", "runs/get", f"reading run {run_id}", params={"run_id": run_id})
        run = document.get("run") or {}
        data = run.get("data") or {}
        info = run.get("info") or {}
        params = {p["key"]: coerce_param(p.get("value")) for p in data.get("params", [])}
        metrics = {m["key"]: m.get("value") for m in data.get("metrics", [])}
        name = info.get("run_name") or run_id
        label = f"mlflow:{name}" if name == run_id else f"mlflow:{name} ({run_id[:8]})"
        return RunData(label, params, metrics, sorted(metrics), lambda key: self.history(run_id, key))

    def history(self, run_id: str, key: str) -> History:
        """``GET metrics/get-history``, every page (one request unless the server pages)."""
        points: list[tuple[float, int, float]] = []
        token = None
        while True:
            query = {"run_id": run_id, "metric_key": key, **({"page_token": token} if token else {})}
            document = self._json("GET", "metrics/get-history", f"reading the history of {key} in run {run_id}",
                                  params=query)
            points.extend((m.get("step", 0), m.get("timestamp", 0), m["value"]) for m in document.get("metrics", []))
            token = document.get("next_page_token")
            if not token:
                break
        if not points:
            raise TrackerError(f"MLflow run {run_id} has no metric '{key}'")
        points.sort(key=lambda p: (p[0], p[1]))
        return History(key, [p[0] for p in points], [p[2] for p in points])

    def experiment_id(self, name: str) -> str:
        """``GET experiments/get-by-name``."""
        document = self._json("GET", "experiments/get-by-name", f"finding experiment '{name}'",
                              params={"experiment_name": name})
        return document["experiment"]["experiment_id"]

    def run_for_commit(self, experiment: str, sha: str) -> str:
        """``POST runs/search``: the newest run of ``experiment`` whose ``mlflow.source.git.commit`` tag is ``sha``."""
        experiment_id = self.experiment_id(experiment)
        document = self._json("POST", "runs/search", f"searching experiment '{experiment}'", json={
            "experiment_ids": [experiment_id], "filter": f"tags.`{GIT_COMMIT_TAG}` = '{sha}'",
            "run_view_type": "ACTIVE_ONLY", "order_by": ["attributes.start_time DESC"], "max_results": 1})
        runs = document.get("runs") or []
        if not runs:
            raise TrackerError(f"MLflow experiment '{experiment}' has no run logged from commit {sha[:12]} "
                               f"(tag {GIT_COMMIT_TAG}); log the run from a git checkout, or pass --mlflow-run")
        return runs[0]["info"]["run_id"]

    def artifacts(self, run_id: str, path: str = "") -> list[str]:
        """``GET artifacts/list``, recursively: the run's artifact files under ``path``."""
        document = self._json("GET", "artifacts/list", f"listing the artifacts of run {run_id}",
                              params={"run_id": run_id, **({"path": path} if path else {})})
        files: list[str] = []
        for entry in document.get("files", []):
            files.extend(self.artifacts(run_id, entry["path"]) if entry.get("is_dir") else [entry["path"]])
        return files

    def download_artifact(self, run_id: str, path: str, destination: str) -> str:
        """``GET /get-artifact``: one artifact file written under ``destination``; returns the local path."""
        action = f"downloading artifact {path} of run {run_id}"
        try:
            response = self.api.request("GET", "/get-artifact", action, params={"run_uuid": run_id, "path": path})
        except ServiceError as error:
            raise TrackerError(f"MLflow at {self.uri}: {action} failed: {_reason(error)}") from None
        target = os.path.join(destination, *path.split("/"))
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        write_atomic(target, response.content)
        return target


def _reason(error: ServiceError) -> str:
    """The server's own message from a policy error, without the forge-specific advice."""
    text = str(error)
    answered = re.search(r"\((\d{3}) (.*)\)", text)
    if answered:
        return f"{answered[2]} (HTTP {answered[1]})"
    if isinstance(error, ServiceUnavailableError):
        return "the server does not answer; check MLFLOW_TRACKING_URI and that the server is running"
    return text
