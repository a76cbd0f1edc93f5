"""The interface every publisher implements, and publishing a whole report with it."""

from __future__ import annotations

import abc
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, ClassVar, Iterable, Sequence, TypeVar

from cml.assets.content import Asset
from cml.assets.links import rewrite
from cml.errors import CmlError
from cml.forges.secrets import refuse_secrets
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


class Publisher(abc.ABC):
    """Stores content-addressed files somewhere reviewers can see them and returns their URLs.

    :meth:`publish` checks sizes and refuses content carrying a token of the job
    before anything is sent, uploads each distinct
    name once per process (``--watch`` re-publishes without re-uploading), and
    leaves it to :meth:`_store` to skip names the backend already holds.
    """

    #: Shown in messages: "GitLab uploads", "S3 bucket models-ci".
    label: ClassVar[str]
    #: The largest file the backend accepts, in bytes, if it has a documented limit.
    size_limit: ClassVar[int | None] = None

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}

    def publish(self, assets: Iterable[Asset]) -> dict[str, str]:
        """URL of each asset by :attr:`Asset.name`; all uploads finish (or fail) before this returns."""
        distinct = {asset.name: asset for asset in assets}
        pending = [asset for name, asset in distinct.items() if name not in self._urls]
        for asset in pending:
            asset.check_size(self.size_limit, self.label)
            refuse_secrets(asset.data, asset.origin)
        if pending:
            self._urls.update(self._store(pending))
        return {name: self._urls[name] for name in distinct}

    @abc.abstractmethod
    def _store(self, assets: list[Asset]) -> dict[str, str]:
        """Store ``assets`` (distinct names, sizes checked) and return the URL of each by name."""


class ReportFiles:
    """Publishes the files one report points at, each time its text is posted.

    The publisher is opened only when a report links a local file, and kept
    across posts so that ``--watch`` uploads each distinct file once.
    """

    def __init__(self, report_path: str, boundary: Boundary, open_publisher: Callable[[], Publisher],
                 skip_missing: bool = False, warn: Callable[[str], None] = lambda message: None):
        self.report_path = report_path
        self.boundary = boundary
        self.open_publisher = open_publisher
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
        return collect_references(text, self.report_path, self.boundary, self.skip_missing, self.warn)

    def full_report_link(self, text: str) -> str:
        """Publish ``text`` itself as a Markdown file and return a sentence linking to it
        (for a report too long for the forge's comment limit)."""
        asset = Asset.from_bytes(text.encode("utf-8"), "report.md", "text/markdown")
        url = self.publisher.publish([asset])[asset.name]
        return f"The full report is [{os.path.basename(self.report_path)}]({url})."

    def fingerprint(self, text: str) -> str:
        """The content digests of the files ``text`` points at, so ``--watch`` notices a changed image."""
        try:  # quietly: this runs on every poll, the post that follows warns once per change
            references = collect_references(text, self.report_path, self.boundary, self.skip_missing)
            return " ".join(reference.asset.digest for reference in references)
        except CmlError:
            return ""

    def publish(self, text: str, references: list[Reference] | None = None) -> str:
        """``text`` with every referenced file published and re-linked; only the destinations change."""
        references = self.references(text) if references is None else references
        if not references:
            return text
        urls = self.publisher.publish(reference.asset for reference in references)
        replacements = {}
        for reference in references:
            url = urls[reference.asset.name]
            replacements[reference.destination] = f"{url}#{reference.fragment}" if reference.fragment else url
        return rewrite(text, replacements)
