"""A real MLflow tracking server on loopback, populated with MLflow's own client."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` (SQLite backend, proxied artifacts) for the session; yields its URL."""
    from tests.fakes.tracking import TrackingServer

    with TrackingServer(tmp_path_factory.mktemp("mlflow")) as server:
        yield server.url


@pytest.fixture
def mlflow_client(mlflow_server, monkeypatch):
    """MLflow's own client, pointed at the server (tests log runs with it, as a training script would)."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return MlflowClient(tracking_uri=mlflow_server)
