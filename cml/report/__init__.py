"""Metrics, diffs, tables and plots into Markdown, with no network.

This package is also the public Python API: ``from cml import Report``.
"""

from cml.report.builder import Report

__all__ = ["Report"]
