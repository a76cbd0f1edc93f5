"""The interface every publisher implements, and publishing a whole report with it."""

from __future__ import annotations

import abc
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ClassVar, TypeVar
from collections.abc import Iterable, Sequence

from cml.assets.content import Asset
from cml.assets.links import local_path, rewrite
from cml.errors import CmlError
from cml.forges.errors import ForgePermissionError
from cml.secrets import refuse_secrets
from cml.assets.references import Boundary, Reference, collect_references

T = TypeVar("T")
R = TypeVar("R")
#: Distinct files are uploaded this many at a time.
PARALLEL_UPLOADS = 8


def in_parallel(function: Callable[[T], R], items: Sequence[T], workers: int = PARALLEL_UPLOADS) -> list[R]:
    """``[function(item) for item in items]`` on a thread pool; the first failure is raised."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))


class PublishingRefused(ForgePermissionError):
    """The token may not store files where the publisher puts them (HTTP 403).

    ``reason`` is said in the report in place of each file that was not published; ``fix`` says,
    on lines of its own, how to allow it.
    """

    def __init__(self, message: str, reason: str, fix: str = ""):
        super().__init__(message)
        self.reason, self.fix = reason, fix


class Publisher(abc.ABC):
    """Stores content-addressed files somewhere reviewers can see them and returns their URLs.

    :meth:`publish` checks sizes and refuses content carrying a token of the job
    before anything is sent, uploads each distinct
    name once per process (``--watch`` re-publishes without re-uploading), and
    leaves it to :meth:`_store` to skip names the backend already holds.
    """

    #: Shown in messages: "GitLab uploads", "S3 bucket models-ci" (set per instance where it names one).
    label: str
    #: The largest file the backend accepts, in bytes, if it has a documented limit.
    size_limit: ClassVar[int | None] = None

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._refused: PublishingRefused | None = None

    def publish(self, assets: Iterable[Asset]) -> dict[str, str]:
        """URL of each asset by :attr:`Asset.name`; all uploads finish (or fail) before this returns.

        Once the backend refused the token (:class:`PublishingRefused`), later calls raise the same
        error without asking again: the token's permissions do not change during a job.
        """
        distinct = {asset.name: asset for asset in assets}
        pending = [asset for name, asset in distinct.items() if name not in self._urls]
        for asset in pending:
            asset.check_size(self.size_limit, self.label)
            refuse_secrets(asset.data, asset.origin)
        if pending:
            if self._refused is not None:
                raise self._refused
            try:
                self._urls.update(self._store(pending))
            except PublishingRefused as error:
                self._refused = error
                raise
        return {name: self._urls[name] for name in distinct}

    @abc.abstractmethod
    def _store(self, assets: list[Asset]) -> dict[str, str]:
        """Store ``assets`` (distinct names, sizes checked) and return the URL of each by name."""


class ReportFiles:
    """Publishes the files one report points at, each time its text is posted.

    The publisher is opened only when a report links a local file, and kept
    across posts so that ``--watch`` uploads each distinct file once. Without
    ``strict``, a file that cannot be published is left as written with a warning
    (see :func:`~cml.assets.references.collect_references`), and when the backend
    refuses the token (:class:`PublishingRefused`) the report is still posted, each
    image or ``<img>`` replaced by a note saying why, each link followed by one.
    """

    def __init__(self, report_path: str, boundary: Boundary, open_publisher: Callable[[], Publisher],
                 strict: bool = False, warn: Callable[..., None] = lambda message, file=None, line=None: None,
                 skip_missing: bool = False):
        self.report_path = report_path
        self.boundary = boundary
        self.open_publisher = open_publisher
        self.strict = strict
        self.skip_missing = skip_missing
        self.warn = warn
        self._publisher: Publisher | None = None

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = self.open_publisher()
        return self._publisher

    def references(self, text: str) -> list[Reference]:
        """The local files and ``data:`` URIs of ``text``, checked (boundary, existence) without any network."""
        return collect_references(text, self.report_path, self.boundary, self.strict, self.warn, self.skip_missing)

    def full_report_link(self, text: str) -> str:
        """Publish ``text`` itself as a Markdown file and return a sentence linking to it
        (for a report too long for the forge's comment limit); without ``strict``, nothing when refused."""
        asset = Asset.from_bytes(text.encode("utf-8"), "report.md", "text/markdown")
        try:
            url = self.publisher.publish([asset])[asset.name]
        except PublishingRefused:
            if self.strict:
                raise
            return ""  # the refusal was already explained when the report's files were published
        return f"The full report is [{os.path.basename(self.report_path)}]({url})."

    def fingerprint(self, text: str) -> str:
        """The content digests of the files ``text`` points at, so ``--watch`` notices a changed image."""
        try:  # quietly: this runs on every poll, the post that follows warns once per change
            references = collect_references(text, self.report_path, self.boundary)
            return " ".join(reference.asset.digest for reference in references)
        except CmlError:
            return ""

    def publish(self, text: str, references: list[Reference] | None = None) -> str:
        """``text`` with every referenced file published and re-linked; only the destinations change."""
        references = self.references(text) if references is None else references
        if not references:
            return text
        try:
            urls = self.publisher.publish(reference.asset for reference in references)
        except PublishingRefused as error:
            if self.strict:
                raise
            return self._unpublished(text, references, error)
        replacements = {}
        for reference in references:
            url = urls[reference.asset.name]
            replacements[reference.destination] = f"{url}#{reference.fragment}" if reference.fragment else url
        return rewrite(text, replacements)

    def _unpublished(self, text: str, references: list[Reference], refusal: PublishingRefused) -> str:
        """``text`` with a note in place of each image (after each link) that could not be published, and one
        warning saying why and how to allow it."""
        notes = {reference.destination: f"*({_escape(_name(reference))} not published: {refusal.reason})*"
                 for reference in references}
        names = ", ".join(dict.fromkeys(_name(reference) for reference in references))
        fix = f"\n{refusal.fix}" if refusal.fix else ""
        self.warn(f"{names} not published (the report is posted with notes in their place): {refusal}{fix}",
                  file=self.report_path, line=references[0].destination.line)
        return rewrite(text, {}, notes)


def _name(reference: Reference) -> str:
    url = reference.destination.url.strip()
    return "an embedded image" if url[:5].lower() == "data:" else local_path(url)


def _escape(text: str) -> str:
    """``text`` shown literally in Markdown emphasis."""
    return re.sub(r"([\\`*_\[\]<>()#!|~&])", r"\\\1", text)
