"""Attaching a report to a commit as a check (GitHub check run, or the forge's commit status)."""

from __future__ import annotations

from cml.actions.connection import Connection, Warn, log_warning
from cml.actions.files import FileOptions, read_outgoing_report, report_files
from cml.errors import UsageError
from cml.forges.base import Check, CheckStatus, Conclusion
from cml.report.truncate import truncate_markdown


def create_check(
    path: str,
    *,
    title: str = "CML Report",
    conclusion: Conclusion | None = None,
    status: CheckStatus = "completed",
    details_url: str | None = None,
    head_sha: str | None = None,
    publish: bool = True,
    files: FileOptions | None = None,
    connection: Connection | None = None,
    warn: Warn | None = None,
) -> str | None:
    """Attach the Markdown report at ``path`` to ``head_sha`` (by default the CI's head commit) and return the
    check's URL, if the forge gives one.

    GitHub records a check run named ``title`` showing the report (its linked files are published first when
    ``publish``; see :class:`FileOptions`); GitLab, Bitbucket and Gitea a commit (build) status. ``status`` is
    ``queued``, ``in_progress`` or ``completed``; only a completed check has a ``conclusion`` (by default
    ``success``). ``details_url`` is where the check links to (by default the CI job).
    """
    if conclusion and status != "completed":
        raise UsageError(f"only a completed check has one (this one is {status}); drop it or pass --status completed",
                         parameter="conclusion")
    connection = connection or Connection()
    files = files or FileOptions()
    report = read_outgoing_report(path, connection.env, files.allow_outside)
    context, forge = connection.open()
    sha = head_sha or context.sha
    if not sha:
        raise UsageError("cannot tell which commit to attach the check to; pass --head-sha", parameter="head_sha")
    if publish and forge.check_shows_report:
        report = report_files(path, files, connection.env, warn or log_warning,
                              lambda: (forge, context, None)).publish(report)
    if forge.check_shows_report:  # room left for the forge's own additions to the summary
        report = truncate_markdown(report, forge.summary_limit - 1024)
    details_url = details_url or connection.env.get("CI_JOB_URL") or forge.run_url(context)
    return forge.publish_check(Check(sha, title, report, conclusion or "success", details_url, status))
