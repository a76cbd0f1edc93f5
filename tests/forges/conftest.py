"""Fixtures for forge tests."""

import pytest

from tests.fakes.ci_env import REPORT


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.md").write_text(REPORT)
    return tmp_path / "report.md"


