"""Running a CI run (GitHub workflow run, GitLab or Bitbucket pipeline) again."""

from __future__ import annotations

from collections.abc import Mapping

from cml.actions.connection import Connection
from cml.ci import RepositoryContext
from cml.errors import UsageError
from cml.forges.registry import forge_class

DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_POLL_TIMEOUT = 300.0


def current_run(context: RepositoryContext) -> str | None:
    """The id the forge re-runs the CI run of ``context`` by, when the CI is the forge's own."""
    if context.ci != context.driver:
        return None
    return forge_class(context.driver).rerun_target(context)


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "")
    try:
        seconds = float(value) if value.strip() else default
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number of seconds") from None
    if seconds < 0:
        raise UsageError(f"{name}={value!r} must not be negative")
    return seconds


def rerun_workflow(
    run_id: str | None = None,
    *,
    poll_interval: float | None = None,
    timeout: float | None = None,
    connection: Connection | None = None,
) -> str | None:
    """Re-run the CI run ``run_id`` (by default the one this job belongs to) and return its URL, if the forge
    gives one.

    GitHub cancels a run that is still going (polling every ``poll_interval`` seconds, for at most ``timeout``;
    by default ``CML_POLL_INTERVAL`` and ``CML_POLL_TIMEOUT``, else 2 and 300) and re-runs it; GitLab cancels and
    retries the pipeline; Bitbucket starts a new pipeline for the same target. Gitea has no API for it.
    """
    connection = connection or Connection()
    context, forge = connection.open()
    run_id = (run_id or "").strip() or current_run(context)
    if not run_id:
        raise UsageError("no CI run to re-run outside its CI job; pass --id", parameter="run_id")
    environ = connection.env
    if poll_interval is None:
        poll_interval = _seconds(environ, "CML_POLL_INTERVAL", DEFAULT_POLL_INTERVAL)
    if timeout is None:
        timeout = _seconds(environ, "CML_POLL_TIMEOUT", DEFAULT_POLL_TIMEOUT)
    return forge.rerun_workflow(run_id, poll_interval=poll_interval, timeout=timeout)
