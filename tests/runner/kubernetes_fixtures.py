"""A fake Kubernetes cluster on loopback for ``cml runner … --cloud kubernetes``, reached through a kubeconfig.

Import the fixtures into a test module (``from tests.runner.kubernetes_fixtures import cluster``); they build on
``gitlab_runners`` and ``github_runners`` from ``tests/runner/conftest.py``.
"""

from __future__ import annotations

import pytest

from tests.fakes.kubernetes import BEARER_TOKEN, FakeKubernetes, Node, write_kubeconfig

NAMESPACE = "ci"
#: Cluster time runs this many times faster than the wall clock (activeDeadlineSeconds, ttlSecondsAfterFinished).
SPEED = 20.0


@pytest.fixture
def cluster(request, monkeypatch, tmp_path):
    """Three CPU nodes, the ``ci`` namespace as the kubeconfig's current one, ``KUBECONFIG`` set; pods boot the
    startup script from their Secret in a sandbox and bring their runner online on the fake forge. A test changes
    ``cluster.nodes`` or ``cluster.runner`` (``"settings"``: only connect registrations) before launching."""
    forges = {}
    for name, fixture in (("github", "github_runners"), ("gitlab", "gitlab_runners")):
        if fixture in request.fixturenames:
            forges[name] = request.getfixturevalue(fixture)
    nodes = [Node(f"cpu-{i}", cpu=8, memory=32 * 1024 ** 3) for i in (1, 2, 3)]
    fake = FakeKubernetes(nodes=nodes, speed=SPEED, forges=forges)
    try:
        fake.serve()
        config = write_kubeconfig(tmp_path / "kubeconfig", fake.url, BEARER_TOKEN, NAMESPACE)
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.setenv("CML_POLL_SECONDS", "0.2")
        yield fake
    finally:
        fake.close()
