"""What a new user installs: the licence, the package metadata, and examples that install from a checkout."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    tomllib = None

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_licence_is_shipped_and_declared_as_an_spdx_expression():
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The table form ({text = …}) is deprecated by setuptools and warns on every build.
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]


@pytest.mark.parametrize("requirements", sorted((ROOT / "examples").glob("*/requirements.txt")),
                         ids=lambda path: path.parent.name)
def test_examples_requirements_install_from_a_checkout(requirements):
    """``pip install ../.. -r requirements.txt`` must not also ask PyPI for a cml-ci that is not released yet."""
    names = [re.split(r"[\s<>=!~;@\[]", line.strip())[0].lower() for line in requirements.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert names and "cml-ci" not in names


def test_readme_says_how_to_install_before_the_first_release():
    readme = (ROOT / "README.md").read_text()
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "git+https://" in install and "pip install '.[plots]'" in install
