"""cml: continuous machine learning reports for CI.

``from cml import Report`` gives the report builder, and ``cml.post_report``, ``cml.publish``,
``cml.create_check``, ``cml.open_pull_request``, ``cml.rerun_workflow`` and ``cml.prepare_repository`` (with
``cml.Connection`` and their option and result types) what the commands do on a forge. They are loaded on
first use so that importing :mod:`cml` (and starting the ``cml`` command) stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The names of :mod:`cml.actions` that ``cml`` gives, loaded on first use.
ACTIONS = (
    "CommentOptions", "Committer", "Connection", "Delivery", "FileOptions", "PublishSettings", "PublishedFile",
    "PullRequestResult", "create_check", "open_pull_request", "post_report", "prepare_repository", "publish",
    "rerun_workflow", "watch_report",
)

__all__ = ["Report", "__version__", *ACTIONS]


def __getattr__(name: str) -> Any:
    if name == "Report":
        from cml.report import Report

        return Report
    if name in ACTIONS:
        import cml.actions

        return getattr(cml.actions, name)
    raise AttributeError(f"module 'cml' has no attribute {name!r}")
