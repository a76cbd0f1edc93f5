"""cml: continuous machine learning reports for CI.

``from cml import Report`` gives the report builder; it is loaded on first use so
that importing :mod:`cml` (and starting the ``cml`` command) stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["Report", "__version__"]


def __getattr__(name):
    if name == "Report":
        from cml.report import Report

        return Report
    raise AttributeError(f"module 'cml' has no attribute {name!r}")
