"""Reading a report to send out, and publishing the files it links to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Callable

from cml.actions.connection import Warn
from cml.assets.backends import PublishSettings, open_publisher
from cml.assets.publisher import ReportFiles
from cml.assets.references import read_report
from cml.ci import RepositoryContext
from cml.fileio import Boundary
from cml.forges.base import Forge
from cml.secrets import refuse_secrets


@dataclass(frozen=True)
class FileOptions:
    """Which files a report may be read from and link to, and where the linked files are published.

    ``storage``: where files go (the forge's own storage unless its ``url`` names S3 or an asset server).
    ``allow_outside``: folders besides the report's folder and the CI workspace that files may come from (and,
    besides the current folder and the workspace, the report itself). ``strict``: fail, posting nothing, when a
    linked file cannot be published, instead of leaving its link as written with a warning; with
    ``skip_missing`` too, missing files are still only warned about.
    """

    storage: PublishSettings = field(default_factory=PublishSettings)
    allow_outside: Sequence[str] = ()
    strict: bool = False
    skip_missing: bool = False


def read_outgoing_report(path: str, environ: Mapping[str, str], allow_outside: Sequence[str] = ()) -> str:
    """The text of ``path`` to send out, read only if it resolves inside the current folder, the CI workspace or
    an ``allow_outside`` folder and not under ``.git``, is at most :data:`~cml.fileio.MAX_REPORT_BYTES`, and
    carries no token of this job."""
    text = read_report(path, environ, allow_outside)
    refuse_secrets(text, path)
    return text


#: Returns ``(forge, context, issue number)`` of the report's destination, when a file must be published.
Destination = Callable[[], "tuple[Forge | None, RepositoryContext, int | None]"]


def report_files(path: str, options: FileOptions, environ: Mapping[str, str], warn: Warn,
                 destination: Destination) -> ReportFiles:
    """The :class:`~cml.assets.publisher.ReportFiles` of the report at ``path``; ``destination()`` is called only
    when a file must be published, so an action can check the report's links before it opens the forge. Without
    ``options.strict``, files that cannot be published are warned about and left as written."""
    boundary = Boundary.for_report(path, environ, options.allow_outside)

    def publisher():
        return open_publisher(options.storage, *destination(), environ, warn)

    return ReportFiles(path, boundary, publisher, options.strict, warn, options.skip_missing)
