"""Find metrics and params files the way DVC and dvclive lay them out."""

from __future__ import annotations

import os
import posixpath
from typing import Any, Callable

from cml.errors import InputError
from cml.fileio import project_refusal
from cml.report.data import DocumentKind, parse_yaml, read_document

DVC_YAML = "dvc.yaml"
DVCLIVE_METRICS = "dvclive/metrics.json"
DVCLIVE_PARAMS = "dvclive/params.yaml"
DEFAULT_PARAMS = "params.yaml"
CONVENTIONAL_METRICS = ("metrics.json", "metrics.yaml", "metrics.yml")
#: The file in dvclive's ``plots/sklearn`` folder of each plot ``live.log_sklearn_plot`` writes.
DVCLIVE_SKLEARN_FILES = {"confusion": "confusion_matrix.json", "roc": "roc.json", "pr": "precision_recall.json"}


def dvclive_sklearn_plot(kind: str, folder: str = "dvclive") -> str:
    """The path of dvclive's ``kind`` plot (``confusion``, ``roc``, ``pr``) in its output ``folder``."""
    return posixpath.join(folder.replace(os.sep, "/"), "plots", "sklearn", DVCLIVE_SKLEARN_FILES[kind])


def _entry_paths(entries: Any, named: str | None = None) -> list[str]:
    """Paths from a dvc.yaml list whose items are ``path`` or ``{path: options}``; with ``named``, an item that is
    text names a key of that file instead (a stage's ``params: [lr]`` reads ``params.yaml``)."""
    paths = []
    for entry in entries or []:
        if isinstance(entry, str):
            paths.append(named or entry)
        elif isinstance(entry, dict):
            paths.extend(str(key) for key in entry)
    return [p for p in paths if "${" not in p]


def _stage_param_files(entries: Any) -> list[str]:
    return _entry_paths(entries, DEFAULT_PARAMS)


def _join(*parts: str) -> str:
    return posixpath.normpath(posixpath.join(*parts))


def _inside(files: list[str], path: str, folder: str | None) -> list[str]:
    """``files`` (from a pull request's dvc.yaml), refused when one is not the project's own (see
    :func:`cml.fileio.project_refusal`); with ``folder``, the working-tree folder of the dvc.yaml, a link out of it
    is refused too."""
    root = os.path.realpath(folder) if folder else None
    for name in files:
        refusal = project_refusal(name) or (project_refusal(name, "the project", root, folder) if root else None)
        if refusal:
            raise InputError(path, f"'{name}' {refusal}")
    return files


def files_in_dvc_yaml(text: str, kind: DocumentKind, path: str = DVC_YAML, folder: str | None = None) -> list[str]:
    """The ``kind`` ("metrics" or "params") files a dvc.yaml names, relative to its folder; a file outside the
    project (or, with ``folder``, the working-tree folder of the dvc.yaml, leading out of it) is refused."""
    document = parse_yaml(text, path) or {}
    if not isinstance(document, dict):
        return []
    found: list[str] = list(_entry_paths(document.get(kind)))
    stage_files = _entry_paths if kind == "metrics" else _stage_param_files
    stages = document.get("stages") or {}
    if isinstance(stages, dict):
        for stage in stages.values():
            if not isinstance(stage, dict):
                continue
            wdir = str(stage.get("wdir") or ".")
            found.extend(_join(wdir, name) for name in stage_files(stage.get(kind)))
    return _inside(list(dict.fromkeys(_join(name) for name in found)), path, folder)


def discover(kind: DocumentKind, read: Callable[[str], bytes | None], folder: str | None = None) -> list[str]:
    """Files of ``kind`` named by ``dvc.yaml``, else dvclive's, else ``metrics.json``/``.yaml``.

    For params, ``params.yaml`` is always included when it exists (DVC's default).

    ``read(path)`` returns a file's bytes or ``None``; it may read the working tree
    or a git revision, so discovery works on both sides of a diff. ``folder``, the working-tree folder ``read``
    reads, has a file dvc.yaml names refused when it is a link leading out of it.
    """
    found: list[str] = []
    dvc_yaml = read(DVC_YAML)
    if dvc_yaml is not None:
        found = files_in_dvc_yaml(dvc_yaml.decode("utf-8", errors="replace"), kind, folder=folder)
    if kind == "params" and read(DEFAULT_PARAMS) is not None and DEFAULT_PARAMS not in found:
        found.insert(0, DEFAULT_PARAMS)
    if not found:
        fallbacks = (DVCLIVE_METRICS, *CONVENTIONAL_METRICS) if kind == "metrics" else (DVCLIVE_PARAMS,)
        found = [path for path in fallbacks if read(path) is not None][:1]
    if folder is not None:  # params.yaml, dvclive's and metrics.json may be links out of the project too
        root = os.path.realpath(folder)
        for name in found:
            refusal = project_refusal(name, "the project", root, folder)
            if refusal:
                raise InputError(name, refusal)
    return found


def read_workspace(path: str) -> bytes | None:
    """Bytes of a working-tree file, or ``None`` if it is not there; one over the size limit is refused."""
    if not os.path.isfile(path):
        return None
    return read_document(path)
