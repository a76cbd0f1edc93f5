"""Metrics, diffs, tables and plots into Markdown, with no network.

This package is also the public Python API: ``from cml import Report``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Report"]


def __getattr__(name: str) -> Any:
    # Report is loaded on first use: importing one cml.report module (cml metrics diff reads a few) then skips
    # the builder and every block it can hold, a quarter of a second of imports
    if name == "Report":
        return importlib.import_module("cml.report.builder").Report
    raise AttributeError(f"module 'cml.report' has no attribute {name!r}")
