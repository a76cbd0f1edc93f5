"""Which files a report points at, and whether it may publish them.

A report is often built from untrusted pull-request content, so a link to
``/etc/passwd``, ``../../.ssh/id_rsa`` or a symlink leading out of the workspace
must never be uploaded: every file must resolve (symlinks followed) inside the
report's folder, the CI workspace, or a folder the user allowed on purpose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from cml.assets.content import Asset, AssetError
from cml.assets.links import Destination, find_destinations, is_local_file, local_path
from cml.errors import InputError
from cml.fileio import read_bytes
from cml.workspace import WORKSPACE_VARIABLES


class Boundary:
    """The folders files may be published from (real paths, symlinks resolved)."""

    def __init__(self, roots: Iterable[str]):
        self.roots = sorted({os.path.realpath(root) for root in roots if root})

    @classmethod
    def for_report(cls, report_path: str, environ: Mapping[str, str], allow_outside: Iterable[str] = ()) -> "Boundary":
        """The report's folder, the CI workspace if there is one, and every ``--allow-outside`` folder."""
        return cls.for_folder(os.path.dirname(os.path.abspath(report_path)), environ, allow_outside)

    @classmethod
    def for_folder(cls, folder: str, environ: Mapping[str, str], allow_outside: Iterable[str] = ()) -> "Boundary":
        """``folder``, the CI workspace if there is one, and every ``--allow-outside`` folder."""
        workspaces = [environ[name] for name in WORKSPACE_VARIABLES if environ.get(name)]
        return cls([folder, *workspaces, *allow_outside])

    def contains(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)


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
    skip_missing: bool = False,
    warn: Callable[[str], None] = lambda message: None,
) -> list[Reference]:
    """Every local file and ``data:`` URI that ``text`` (the content of ``report_path``) points at.

    Paths resolve against the report's folder. A path outside ``boundary`` is an
    error; a missing file is an error naming the report line, or with
    ``skip_missing`` a warning that leaves the link as it is.
    """
    base = os.path.dirname(os.path.abspath(report_path))
    loaded: dict[str, Asset] = {}
    references: list[Reference] = []
    for destination in find_destinations(text):
        url = destination.url.strip()
        if url[:5].lower() == "data:":
            try:
                references.append(Reference(destination, Asset.from_data_uri(url)))
            except AssetError as error:
                raise InputError(report_path, str(error), line=destination.line) from None
            continue
        if not is_local_file(url):
            continue
        relative = local_path(url)
        if not relative:
            continue
        path = os.path.normpath(os.path.join(base, relative))
        if not boundary.contains(path):
            raise InputError(
                report_path,
                f"refusing to publish {relative}: it is outside the report's folder and the CI workspace "
                f"(resolves to {os.path.realpath(path)}); pass --allow-outside FOLDER if this is intended",
                line=destination.line,
            )
        real = os.path.realpath(path)
        if real not in loaded:
            if not os.path.isfile(real):
                problem = "is a folder, not a file" if os.path.isdir(real) else "does not exist"
                if skip_missing:
                    warn(f"{report_path}:{destination.line}: {relative} {problem}; the link is left as it is")
                    continue
                raise InputError(report_path, f"{relative} {problem}; create it before posting, fix the link, "
                                              "or pass --skip-missing to leave such links as they are",
                                 line=destination.line)
            loaded[real] = Asset.from_bytes(read_bytes(real), relative)
        references.append(Reference(destination, loaded[real], urlsplit(url).fragment))
    return references
