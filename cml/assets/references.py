"""Which files a report points at, and whether it may publish them.

A report is often built from untrusted pull-request content, so a link to
``/etc/passwd``, ``../../.ssh/id_rsa`` or a symlink leading out of the workspace
must never be uploaded: every file must resolve (symlinks followed) inside the
report's folder, the CI workspace, or a folder the user allowed on purpose, and
nothing under a ``.git`` folder (``actions/checkout`` keeps the token in
``.git/config``) or carrying a token of the job is sent, whatever the boundary.
The report file itself gets the same rule (:func:`read_report`).

Limits: a report is at most :data:`MAX_REPORT_BYTES`, a linked file at most
:data:`MAX_LINKED_FILE_BYTES`; both are checked before the file is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from cml.assets.content import Asset, AssetError
from cml.assets.links import Destination, TooMuchMarkup, find_destinations, is_local_file, local_path
from cml.errors import InputError
from cml.fileio import GIT_FOLDER, MAX_REPORT_BYTES, Boundary, decode_text, is_under_git_folder, read_bytes
from cml.secrets import contains_secret

__all__ = ["GIT_FOLDER", "MAX_LINKED_FILE_BYTES", "MAX_REPORT_BYTES", "Boundary", "Reference", "collect_references",
           "is_under_git_folder", "read_report"]

#: The largest file a report may link to; the forges' own limits (GitHub, GitLab: 100 MiB) are no higher.
MAX_LINKED_FILE_BYTES = 100 * 1024 * 1024
#: Warnings said line by line for links to the same file (each an annotation on its line); the rest are counted.
WARNINGS_PER_FILE = 5


def read_report(path: str, environ: Mapping[str, str], allow_outside: Iterable[str] = ()) -> str:
    """The text of the report at ``path``, read only if it resolves (symlinks followed) inside the current
    folder, the CI workspace or an ``--allow-outside`` folder, and not under ``.git``: a ``report.md`` that is
    a symlink to ``/proc/self/environ`` would otherwise post the job's tokens."""
    boundary = Boundary.for_folder(os.getcwd(), environ, allow_outside)
    return decode_text(boundary.read(path, MAX_REPORT_BYTES, "reports"), path)


@dataclass(frozen=True)
class Reference:
    """A destination in the report and the asset it will point at once published."""

    destination: Destination
    asset: Asset
    fragment: str = ""


def collect_references(
    text: str,
    report_path: str,
    boundary: Boundary,
    strict: bool = False,
    warn: Callable[..., None] = lambda message, file=None, line=None: None,
    skip_missing: bool = False,
) -> list[Reference]:
    """Every local file and ``data:`` URI that ``text`` (the content of ``report_path``) points at.

    Paths resolve against the report's folder. A file carrying a token of the job is always an
    error naming the report line. Any other file that cannot be published (missing, a folder,
    outside ``boundary`` or under ``.git``, larger than :data:`MAX_LINKED_FILE_BYTES`, unreadable,
    of a type that cannot be told, an undecodable ``data:`` URI) is skipped with a warning that
    names the report and line, and its link is left as written: nothing of the file is read or
    sent, as iterative/cml did. With ``strict`` each of those is an error instead, except missing
    files and folders when ``skip_missing`` is also given. Past :data:`WARNINGS_PER_FILE` links with the same
    problem, one more warning counts the rest. A report with more markup than cmark may be given is an error
    (:class:`~cml.assets.links.TooMuchMarkup`).
    """
    base = os.path.dirname(os.path.abspath(report_path))
    loaded: dict[str, Asset] = {}
    references: list[Reference] = []

    # How many links each problem left as written, and the line of the first not warned about one by one.
    unsaid: dict[str, list[int]] = {}

    def skip(destination: Destination, problem: str, fix: str = "", missing: bool = False) -> None:
        if strict and not (missing and skip_missing):
            raise InputError(report_path, f"{problem}; {fix}" if fix else problem, line=destination.line)
        count = unsaid.setdefault(problem, [0, 0])
        count[0] += 1
        if count[0] <= WARNINGS_PER_FILE:
            warn(f"{problem}; the link is left as it is", file=report_path, line=destination.line)
        elif count[0] == WARNINGS_PER_FILE + 1:
            count[1] = destination.line

    # What each path comes to, worked out once: a report may link the same file a hundred thousand times, and
    # each check resolves the path (symlinks followed) three times.
    outcomes: dict[str, Asset | tuple[str, str, bool]] = {}

    def outcome(relative: str, destination: Destination) -> Asset | tuple[str, str, bool]:
        """The asset of the file ``relative`` names, or why it is skipped: ``(problem, fix, missing)``."""
        path = os.path.normpath(os.path.join(base, relative))
        refusal = boundary.refusal(path)
        if refusal:
            return f"refusing to publish {relative}: {refusal}", "", False
        real = os.path.realpath(path)
        if real not in loaded:
            if not os.path.isfile(real):
                problem = "is a folder, not a file" if os.path.isdir(real) else "does not exist"
                return (f"{relative} {problem}", "create it before posting, fix the link, or drop --strict to leave "
                                                 "such links as they are", True)
            try:
                data = read_bytes(real, MAX_LINKED_FILE_BYTES, "linked files")
            except InputError as error:
                return f"cannot publish {relative}: {error}", "", False
            if contains_secret(data):
                raise InputError(report_path, f"refusing to publish {relative}: it contains a token or credential "
                                              "of this job (or its base64); remove it from the file",
                                 line=destination.line)
            try:
                loaded[real] = Asset.from_bytes(data, relative)
            except AssetError as error:
                return str(error), "", False
        return loaded[real]

    def collect(destination: Destination) -> None:
        url = destination.url.strip()
        if url[:5].lower() == "data:":
            try:
                references.append(Reference(destination, Asset.from_data_uri(url)))
            except AssetError as error:
                skip(destination, str(error))
            return
        if not is_local_file(url):
            return
        relative = local_path(url)
        if not relative:
            return
        if relative not in outcomes:
            outcomes[relative] = outcome(relative, destination)
        found = outcomes[relative]
        if isinstance(found, tuple):
            problem, fix, missing = found
            skip(destination, problem, fix, missing=missing)
            return
        references.append(Reference(destination, found, urlsplit(url).fragment))

    try:
        destinations = find_destinations(text)
    except TooMuchMarkup as error:
        raise InputError(report_path, str(error), line=error.line) from None
    try:
        for destination in destinations:
            collect(destination)
    finally:  # a hundred thousand links to one missing file: five warnings, then one with the count
        for problem, (count, line) in unsaid.items():
            if count > WARNINGS_PER_FILE:
                warn(f"{problem}: {count - WARNINGS_PER_FILE:,} more links like this, from line {line} on, are left "
                     f"as they are", file=report_path, line=line)
    return references
