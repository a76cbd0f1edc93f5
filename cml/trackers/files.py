"""Run folders on disk or at a git revision: Sacred's file storage observer and dvclive's output.

Both are read through a :class:`FolderReader`, so ``metrics diff`` compares the folder in the
working tree with the same folder at the base revision, read straight from git.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

from cml.errors import InputError
from cml.git import Revision
from cml.report.data import (
    MAX_TABLE_BYTES,
    TABLE_FILES,
    check_tree,
    flatten,
    load_metrics,
    load_table,
    nesting_error,
    read_input,
)
from cml.trackers import History, RunData, TrackerError, coerce_param


class FolderReader:
    """Files of one folder, from the working tree or (with ``revision``, a :class:`cml.git.Revision`) from git."""

    def __init__(self, folder: str, revision: Revision | None = None):
        self.folder = os.fspath(folder)
        self.revision = revision
        self._files: list[str] | None = None

    @property
    def where(self) -> str:
        return f"{self.folder} at {self.revision.name}" if self.revision else self.folder

    def path(self, name: str) -> str:
        return os.path.join(self.folder, *name.split("/"))

    def read(self, name: str) -> bytes | None:
        path = self.path(name)
        if self.revision is not None:
            return self.revision.read_file(path)
        if not os.path.exists(path):
            return None
        return read_input(path, MAX_TABLE_BYTES, TABLE_FILES)

    def names(self) -> list[str]:
        """Every file under the folder, as ``/``-separated names relative to it."""
        if self._files is None:
            if self.revision is not None:
                paths = self.revision.list_files(self.folder)
            else:
                paths = [p for p in glob.glob(os.path.join(self.folder, "**", "*"), recursive=True) if os.path.isfile(p)]
            self._files = sorted(os.path.relpath(p, self.folder).replace(os.sep, "/") for p in paths)
        return self._files

    def exists(self) -> bool:
        return bool(self.names()) if self.revision is not None else os.path.isdir(self.folder)

    def json(self, name: str, required: bool = True) -> Any:
        """The parsed JSON file ``name``; ``None`` when it is missing and not ``required``."""
        data = self.read(name)
        if data is None:
            if required:
                raise TrackerError(f"{self.where}: no {name}")
            return None
        path = self.path(name)
        try:
            document = json.loads(data)
        except ValueError as error:
            line = getattr(error, "lineno", None)
            raise InputError(path, f"not valid JSON ({getattr(error, 'msg', error)})", line) from None
        except RecursionError:
            raise nesting_error(path) from None
        check_tree(document, path)
        return document


def _missing_folder(reader: FolderReader, kind: str) -> TrackerError:
    if reader.revision is not None:
        return TrackerError(f"{reader.folder} is not in {reader.revision.name}")
    return TrackerError(f"{reader.folder}: no such {kind} folder")


def sacred_run(reader: FolderReader) -> RunData:
    """A run folder of Sacred's ``FileStorageObserver``: params from ``config.json``, metric histories from
    ``metrics.json`` (last values as metrics) and a numeric ``result`` from ``run.json``."""
    if not reader.exists():
        raise _missing_folder(reader, "Sacred run")
    config = reader.json("config.json")
    logged = reader.json("metrics.json", required=False) or {}
    run = reader.json("run.json", required=False) or {}
    histories = {}
    for name, entry in logged.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("values"), list):
            raise InputError(reader.path("metrics.json"), f"metric '{name}' has no 'values' list")
        steps = entry.get("steps") or list(range(len(entry["values"])))
        histories[name] = History(name, list(steps), list(entry["values"]))
    metrics = {name: history.values[-1] for name, history in histories.items() if history.values}
    if isinstance(run.get("result"), (int, float)) and not isinstance(run.get("result"), bool):
        metrics.setdefault("result", run["result"])
    params = {key: coerce_param(value) for key, value in flatten(config).items()}
    experiment = (run.get("experiment") or {}).get("name")
    label = f"sacred:{experiment}/{os.path.basename(os.path.normpath(reader.folder))}" if experiment else reader.folder

    def history(name: str) -> History:
        if name not in histories:
            raise TrackerError(f"{reader.where}: no metric '{name}' in metrics.json")
        return histories[name]

    return RunData(label, params, metrics, sorted(histories), history)


DVCLIVE_HISTORIES = "plots/metrics/"


def dvclive_run(reader: FolderReader) -> RunData:
    """dvclive's output folder: ``metrics.json``, ``params.yaml`` and the ``plots/metrics/**.tsv`` histories."""
    if not reader.exists():
        raise _missing_folder(reader, "dvclive output")
    data = reader.read("metrics.json")
    metrics = load_metrics(reader.path("metrics.json"), data) if data is not None else {}
    metrics.pop("step", None)
    params_data = reader.read("params.yaml")
    params = load_metrics(reader.path("params.yaml"), params_data, kind="params") if params_data is not None else {}
    if data is None and params_data is None:
        raise TrackerError(f"{reader.where}: neither metrics.json nor params.yaml; is this dvclive's output folder?")
    tables = {name[len(DVCLIVE_HISTORIES):-4]: name for name in reader.names()
              if name.startswith(DVCLIVE_HISTORIES) and name.endswith(".tsv")}

    def history(name: str) -> History:
        if name not in tables:
            raise TrackerError(f"{reader.where}: no history of '{name}' under {DVCLIVE_HISTORIES}")
        path = reader.path(tables[name])
        table = load_table(path, reader.read(tables[name]), label=path)
        value_column = next((c for c in reversed(table.columns) if c not in ("step", "timestamp")), None)
        if value_column is None:
            raise InputError(path, "has no value column")
        steps = table.numbers("step") if "step" in table.columns else list(range(len(table)))
        return History(name, steps, table.numbers(value_column))

    return RunData(reader.folder, {k: coerce_param(v) for k, v in flatten(params).items()}, metrics,
                   sorted(tables), history)
