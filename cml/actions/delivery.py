"""Posting a report as a comment: target resolution, the marker, updates, size limits, races."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Callable, Literal, Union

from cml.actions.marker import Marker, neutralise
from cml.ci import RepositoryContext
from cml.errors import InputError, UsageError
from cml.fileio import MAX_REPORT_BYTES, decode_text, read_bytes
from cml.forges.base import Comment, Forge, Target
from cml.forges.errors import ForgeNotFoundError
from cml.forges.registry import forge_class
from cml.http import create_once
from cml.report.truncate import truncate_markdown
from cml.secrets import refuse_secrets
from cml.signals import stop_signals

#: Room kept below each forge's limit: limits are counted differently (code points,
#: UTF-16 units, bytes) on different surfaces, so never aim at the exact number.
SAFETY_MARGIN = 4096
STEP_SUMMARY_LIMIT = 1024 * 1024


def parse_target(spec: str) -> Target | str:
    """``pr/N``, ``issue/N``, ``commit/SHA`` as a :class:`Target`; ``auto``/``pr``/``commit`` as is."""
    text = spec.strip()
    lowered = text.lower()
    if lowered in ("auto", "pr", "commit"):
        return lowered
    kind, _, ref = text.partition("/")
    kind = kind.lower()
    if kind in ("pr", "issue") and ref.isdigit() and int(ref) > 0:
        return Target("pr" if kind == "pr" else "issue", ref)
    if kind == "commit" and ref and all(c in "0123456789abcdefABCDEF" for c in ref):
        return Target("commit", ref)
    raise UsageError(f'unsupported comment target "{spec}"; use auto, pr, commit, pr/N, issue/N or commit/SHA',
                     parameter="target")


def resolve_target(spec: str, forge: Forge, context: RepositoryContext) -> Target:
    """Resolve a comment target (``auto``, ``pr``, ``commit``, ``pr/N``, ``issue/N``, ``commit/SHA``): for ``auto``
    and ``pr`` the CI's pull request, else an open PR containing the commit, else (``auto`` only) the commit."""
    parsed = parse_target(spec)
    if isinstance(parsed, Target):
        return parsed
    if parsed in ("auto", "pr") and context.pull_request:
        return Target("pr", str(context.pull_request))
    if not context.sha:
        raise UsageError(f"no pull request or commit of {context.repository} is known here (a CI's apply to its own "
                         "repository only); pass --target pr/N, issue/N or commit/SHA", parameter="target")
    if parsed in ("auto", "pr"):
        pulls = forge.pull_requests_for_commit(context.sha)
        if pulls:
            return Target("pr", str(pulls[0]))
        if parsed == "pr":
            raise UsageError(f'PR for commit sha "{context.sha}" not found', parameter="target")
    return Target("commit", context.sha)


@dataclass(frozen=True)
class Delivery:
    """What happened: the comment, whether it was created or updated, and whether the report was cut."""

    comment: Comment
    action: Literal["created", "updated"]
    truncated: bool

    @property
    def url(self) -> str:
        """The comment's web address."""
        return self.comment.url

    @property
    def created(self) -> bool:
        """Whether a new comment was posted (else an earlier one was edited)."""
        return self.action == "created"


#: A sentence saying where the full report is, or a function that makes one from the full report
#: (it may publish the report, so it is called only when the report must be cut).
FullReportHint = Union[str, Callable[[str], str]]


def comment_body(report: str, forge: Forge, marker: Marker | None, full_report_hint: FullReportHint,
                 origin: str = "the report") -> tuple[str, bool]:
    """The body to post: the report (marker-like lines neutralised) cut to the forge's limit, then the marker.
    A body that carries a token of this job is refused (:class:`~cml.secrets.SecretInContentError`)."""
    text = neutralise(report.rstrip())
    refuse_secrets(text, origin)
    suffix = f"\n\n{marker}\n" if marker else ""
    limit = forge.comment_limit - SAFETY_MARGIN - len(suffix)
    hint = full_report_hint
    if callable(hint):
        hint = hint(report) if len(text) > limit else ""
    body = truncate_markdown(text, limit, hint)
    truncated = body != text
    return (marker.append_to(body) if marker else body), truncated


def _reports_by(forge: Forge, target: Target, marker: Marker, owner: str) -> list[Comment]:
    return [c for c in forge.comments(target) if c.author == owner and marker.found_in(c.body)]


def _create(forge: Forge, target: Target, body: str, marker: Marker | None) -> Comment:
    """Create the comment; when the answer is lost, look for it by its marker, which is unique to this post
    (without a marker: by its whole body), before trying again, so a slow server never gets the report twice."""

    def is_this_post(comment: Comment) -> bool:
        return marker.posted_in(comment.body) if marker else comment.body.strip() == body.strip()

    def find() -> Comment | None:
        return next((c for c in reversed(forge.comments(target)) if is_this_post(c)), None)

    return create_once(lambda: forge.create_comment(target, body), find, forge.policy)


def _delete_quietly(forge: Forge, target: Target, comment: Comment) -> None:
    with contextlib.suppress(ForgeNotFoundError):  # another job removed it first
        forge.delete_comment(target, comment)


def _keep_oldest(forge: Forge, target: Target, reports: list[Comment], body: str,
                 ours: Comment | None = None) -> Comment:
    """Make the oldest of ``reports`` carry ``body`` (unless it is ``ours``, just posted) and delete the rest."""
    oldest = reports[0]
    kept = ours if ours is not None and oldest.id == ours.id else forge.update_comment(target, oldest, body)
    for duplicate in reports[1:]:
        _delete_quietly(forge, target, duplicate)
    return kept


def deliver(
    forge: Forge,
    target: Target,
    report: str,
    marker: Marker | None,
    update: bool,
    warn: Callable[[str], None],
    full_report_hint: FullReportHint = "",
    origin: str = "the report",
) -> Delivery:
    """Post ``report`` on ``target``; with ``update``, edit this label's previous report instead.

    When two jobs create the same label's report at once, the oldest comment wins:
    it receives the newest body and the duplicates are deleted.
    """
    body, truncated = comment_body(report, forge, marker, full_report_hint, origin)
    if truncated:
        warn(f"the report is longer than {forge.name}'s comment limit; the comment shows its beginning")
    if update and target.kind == "commit" and not forge.edits_commit_comments:
        warn(f"{forge.name} cannot edit commit comments through its API; posting a new comment")
        update = False
    label = marker if update else None  # the marker whose earlier reports are updated; none: post a new one
    # Only comments whose author is known to be the token's user are ever edited or deleted.
    owner = forge.viewer() if label is not None else None
    if label is not None and owner is not None:
        existing = _reports_by(forge, target, label, owner)
        if existing:
            return Delivery(_keep_oldest(forge, target, existing, body), "updated", truncated)
    created = _create(forge, target, body, marker)
    if label is None:
        return Delivery(created, "created", truncated)
    # Where the forge would not say who the token is, the answer to the creation does.
    owner = owner or created.author
    if owner is None:
        warn(f"cannot tell which {forge.label} user the token belongs to, so no earlier report can be known to be "
             f"this job's; posted a new one instead of updating")
        return Delivery(created, "created", truncated)
    reports = _reports_by(forge, target, label, owner)
    kept = _keep_oldest(forge, target, reports, body, ours=created) if reports else created
    return Delivery(kept, "created" if kept is created else "updated", truncated)


def append_step_summary(report: str, path: str) -> bool:
    """Append ``report`` to GitHub's ``$GITHUB_STEP_SUMMARY`` within its 1 MiB per-step limit."""
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    room = STEP_SUMMARY_LIMIT - used - 2
    if room < 1024:
        return False
    text = report.rstrip() + "\n"
    refuse_secrets(text, "the job summary")
    if len(text.encode("utf-8")) > room:
        text = truncate_markdown(text, room // 4) + "\n"  # 4 bytes per character at most in UTF-8
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(("\n" if used else "") + text)
    return True


def job_summary_link(context: RepositoryContext) -> str:
    """A sentence linking to the CI run whose summary holds the full report (GitHub Actions)."""
    url = forge_class(context.driver).run_url(context)
    return f"The full report is in the [job summary]({url})." if url else ""


class ReportPoster:
    """Posts one report to one target, then keeps that same comment current on later calls.

    The first :meth:`post` runs :func:`deliver` (marker, update, races,
    size limit) and appends the report to the job summary; later calls edit the
    comment it produced, as watching a report needs.
    """

    def __init__(self, forge: Forge, target: Target, marker: Marker | None, update: bool,
                 warn: Callable[[str], None], summary_path: str | None = None, full_report_hint: FullReportHint = "",
                 origin: str = "the report"):
        self.forge = forge
        self.target = target
        self.marker = marker
        self.update = update
        self.warn = warn
        self.summary_path = summary_path
        self.hint = full_report_hint
        self.origin = origin
        self.comment: Comment | None = None

    def post(self, report: str) -> Delivery:
        """Post ``report`` (the first time) or edit the comment posted before to show it."""
        if self.comment is None:
            delivery = deliver(self.forge, self.target, report, self.marker, self.update, self.warn, self.hint,
                               self.origin)
            if self.summary_path:
                append_step_summary(report, self.summary_path)
        else:
            body, truncated = comment_body(report, self.forge, self.marker, self.hint, self.origin)
            delivery = Delivery(self.forge.update_comment(self.target, self.comment, body), "updated", truncated)
        self.comment = delivery.comment
        return delivery


def watch_file(path: str, on_change: Callable[[str], None], warn: Callable[[str], None], interval: float = 1.0,
               dependencies: Callable[[str], str] | None = None) -> None:
    """Call ``on_change(text)`` once ``path`` exists and whenever its content changes, until Ctrl-C.

    ``dependencies(text)`` fingerprints the files the text points at, so a changed
    image counts as a change even when the report's text stays the same. A stop signal
    (Ctrl-C, or SIGTERM from a cancelled job) ends the watch between two posts, never
    in the middle of one, so the comment on the forge and the URL printed agree; a
    second stop signal interrupts at once.
    """
    stop = threading.Event()

    def request_stop(_number, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    seen = None
    with stop_signals(request_stop):
        try:
            while not stop.is_set():
                text, digest, error = _snapshot(path, dependencies)
                if digest is not None and digest != seen:
                    seen = digest
                    if error is not None:
                        warn(f"{error}; waiting for the next change")
                    else:
                        on_change(text)
                stop.wait(interval)
        except KeyboardInterrupt:
            # The second stop signal, or Ctrl-C outside the main thread where no handler is installed.
            return


def _snapshot(path: str, dependencies: Callable[[str], str] | None) -> tuple[str, str | None, InputError | None]:
    """The file's text, a fingerprint of it and what it links to (``None`` while it is missing), and the
    decoding error of a file that is not text."""
    try:
        data = read_bytes(path, MAX_REPORT_BYTES, "reports")
    except InputError:
        return "", None, None
    try:
        text = decode_text(data, path)
    except InputError as error:
        return "", hashlib.sha256(data).hexdigest(), error
    extra = dependencies(text) if dependencies else ""
    return text, hashlib.sha256(data + extra.encode()).hexdigest(), None
