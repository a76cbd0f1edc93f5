"""Posting a Markdown report as a pull-request, issue or commit comment, once or on every change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from cml.actions.connection import Connection, Note, Warn, log_note, log_warning
from cml.actions.delivery import Delivery, ReportPoster, job_summary_link, resolve_target, watch_file
from cml.actions.files import FileOptions, read_outgoing_report, report_files
from cml.actions.marker import Marker
from cml.assets.content import AssetError
from cml.assets.publisher import ReportFiles
from cml.ci import RepositoryContext
from cml.errors import InputError, UsageError
from cml.forges.base import Forge
from cml.secrets import SecretInContentError


@dataclass(frozen=True)
class CommentOptions:
    """Where and how a report is posted (the parameters of :func:`post_report`)."""

    target: str = "auto"
    update: bool = False
    watermark_title: str | None = ""
    summary: bool = True
    publish: bool = True
    files: FileOptions = field(default_factory=FileOptions)

    def __post_init__(self) -> None:
        if self.watermark_title is None and self.update:
            raise UsageError("a comment without a watermark cannot be updated later; give a watermark_title",
                             parameter="update")


class ReportComment:
    """One report file posted as one comment: its links are checked before the forge is opened, its files are
    published once, and every later post edits the comment the first one made."""

    def __init__(self, path: str, options: CommentOptions, connection: Connection, warn: Warn):
        self.path = path
        self.options = options
        self.connection = connection
        self.warn = warn
        self.issue: int | None = None
        self.files: ReportFiles | None = None
        if options.publish:
            self.files = report_files(path, options.files, connection.env, warn, self._destination)
        self._poster: ReportPoster | None = None

    def _destination(self) -> tuple[Forge | None, RepositoryContext, int | None]:
        return self.connection.forge, self.connection.context, self.issue

    def read(self) -> str:
        """The report's text, read through the same checks every time."""
        return read_outgoing_report(self.path, self.connection.env, self.options.files.allow_outside)

    def poster(self) -> ReportPoster:
        """The poster for the resolved target; the first call opens the forge and resolves the target."""
        if self._poster is None:
            context, forge = self.connection.open()
            target = resolve_target(self.options.target, forge, context)
            self.issue = int(target.ref) if target.kind in ("pr", "issue") else None
            title = self.options.watermark_title
            marker_sha = target.ref if target.kind == "commit" else context.sha
            marker = None if title is None else Marker.for_run(title, context.workflow, context.run_id, marker_sha)
            summary_path = self.connection.env.get("GITHUB_STEP_SUMMARY") if self.options.summary else None
            hint = job_summary_link(context) if summary_path else (self.files.full_report_link if self.files else "")
            self._poster = ReportPoster(forge, target, marker, self.options.update, self.warn, summary_path, hint,
                                        origin=self.path)
        return self._poster

    def post_once(self) -> Delivery:
        """Read, check and post the report."""
        report = self.read()
        # Bad links fail (strict) or are warned about here, before any request is made.
        references = self.files.references(report) if self.files is not None else None
        poster = self.poster()
        return poster.post(self.files.publish(report, references) if self.files is not None else report)

    def post_change(self, on_post: Callable[[Delivery], None]) -> None:
        """Post the report again after a change; a report that cannot be sent is warned about, not raised."""
        try:
            # Read again through the same checks as a single post: the watcher only notices changes.
            text = self.read()
            on_post(self.poster().post(self.files.publish(text) if self.files is not None else text))
        except (InputError, AssetError, SecretInContentError) as error:
            self.warn(f"{error}; waiting for the next change")


def post_report(
    path: str,
    *,
    target: str = "auto",
    update: bool = False,
    watermark_title: str | None = "",
    summary: bool = True,
    publish: bool = True,
    files: FileOptions | None = None,
    connection: Connection | None = None,
    warn: Warn | None = None,
) -> Delivery:
    """Post the Markdown report at ``path`` as a comment and return what happened (:class:`Delivery`: ``url``,
    ``created``…).

    ``target``: ``auto`` (the CI's pull request, else an open one containing the commit, else the commit),
    ``pr``, ``commit``, ``pr/N``, ``issue/N`` or ``commit/SHA``. ``update``: edit this watermark's previous
    report instead of posting a new one. ``watermark_title`` labels the report's invisible watermark (``{workflow}``
    and ``{run}`` are replaced); ``None`` posts without one. ``summary``: also append the report to the GitHub
    Actions job summary. ``publish``: publish the local files the report links to (see :class:`FileOptions`) and
    link their URLs. Warnings go to ``warn`` (by default the ``cml`` logger).
    """
    options = CommentOptions(target, update, watermark_title, summary, publish, files or FileOptions())
    return ReportComment(path, options, connection or Connection(), warn or log_warning).post_once()


def watch_report(
    path: str,
    on_post: Callable[[Delivery], None],
    *,
    options: CommentOptions | None = None,
    interval: float = 1.0,
    connection: Connection | None = None,
    warn: Warn | None = None,
    note: Note | None = None,
) -> None:
    """Post the report at ``path`` once it exists and edit that comment whenever the report (or a file it links
    to) changes, calling ``on_post`` after each post, until Ctrl-C or SIGTERM. The forge is opened and the target
    resolved before watching starts."""
    warn, note = warn or log_warning, note or log_note
    comment = ReportComment(path, options or CommentOptions(), connection or Connection(), warn)
    comment.poster()  # opens the forge and resolves the target now, so a mistake fails before watching

    def on_change(_text: str) -> None:
        comment.post_change(on_post)

    note(f"watching {path}; press Ctrl-C to stop")
    watch_file(path, on_change, warn, interval, dependencies=comment.files.fingerprint if comment.files else None)
    note("stopped watching")
