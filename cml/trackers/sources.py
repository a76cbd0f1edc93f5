"""Which run to read: an MLflow run (by id, or by experiment and commit), a Sacred run folder or dvclive's
output folder, for the head side and for the base side of a diff."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Mapping

from cml.errors import UsageError
from cml.trackers import RunData

if TYPE_CHECKING:  # git, the folder readers and the MLflow client load when a run is read, not when options are parsed
    from cml.git import Revision
    from cml.trackers.mlflow import MlflowServer


@dataclass(frozen=True)
class RunSource:
    """Where a run comes from; at most one kind of source. Errors name these fields, which the command line's
    options share (``mlflow_run`` is ``--mlflow-run``)."""

    mlflow_run: str | None = None
    mlflow_experiment: str | None = None
    mlflow_base_run: str | None = None
    mlflow_tracking_uri: str | None = None
    sacred: str | None = None
    dvclive: str | None = None

    def __post_init__(self) -> None:
        given = [(tracker, parameter) for tracker, parameter, value in (
            ("MLflow", "mlflow_run" if self.mlflow_run else "mlflow_experiment", self.is_mlflow),
            ("Sacred", "sacred", self.sacred), ("dvclive", "dvclive", self.dvclive)) if value]
        if len(given) > 1:
            trackers = " and ".join(tracker for tracker, _ in given)
            raise UsageError(f"use one run source at a time, not {trackers}", parameter=given[1][1])
        if self.mlflow_base_run and not self.is_mlflow:
            raise UsageError("is the base of an MLflow run; name the run or its experiment too",
                             parameter="mlflow_base_run")

    @property
    def parameter(self) -> str:
        """The field that chose this source, for errors about it (``mlflow_run`` for any MLflow source)."""
        return "mlflow_run" if self.is_mlflow else "sacred" if self.sacred else "dvclive"

    @property
    def active(self) -> bool:
        return bool(self.mlflow_run or self.mlflow_experiment or self.sacred or self.dvclive)

    @property
    def is_mlflow(self) -> bool:
        return bool(self.mlflow_run or self.mlflow_experiment)

    def _server(self, environ: Mapping[str, str]) -> MlflowServer:
        from cml.trackers.mlflow import MlflowServer

        return MlflowServer(self.mlflow_tracking_uri, environ)

    def head(self, environ: Mapping[str, str], revision: str | None = None) -> RunData:
        """The run to show, or the new side of a diff: the folder in the working tree (or at ``revision``),
        the MLflow run given, or the experiment's run logged from HEAD (or ``revision``)."""
        from cml import git

        if self.mlflow_run:
            return self._server(environ).run(self.mlflow_run)
        if self.mlflow_experiment:
            server = self._server(environ)
            return server.run(server.run_for_commit(self.mlflow_experiment, git.resolve(revision or "HEAD").sha))
        return self._folder_run(git.resolve(revision) if revision else None)

    def base(self, environ: Mapping[str, str], revision: str) -> RunData:
        """The old side of a diff: the same folder at ``revision``, ``mlflow_base_run``, or the experiment's run
        logged from ``revision``."""
        from cml import git

        if self.is_mlflow:
            server = self._server(environ)
            if self.mlflow_base_run:
                return server.run(self.mlflow_base_run)
            if not self.mlflow_experiment:
                raise UsageError("to compare an MLflow run, also pass its base run, or the experiment to find both "
                                 "runs by the commits they were logged from", parameter="mlflow_run")
            return server.run(server.run_for_commit(self.mlflow_experiment, git.resolve(revision).sha))
        return self._folder_run(git.resolve(revision))

    def _folder_run(self, revision: Revision | None) -> RunData:
        from cml.trackers.files import FolderReader, dvclive_run as read_dvclive_run, sacred_run as read_sacred_run

        if self.sacred:
            return read_sacred_run(FolderReader(self.sacred, revision))
        if self.dvclive:
            return read_dvclive_run(FolderReader(self.dvclive, revision))
        raise UsageError("no run source: name an MLflow run or experiment, a Sacred run folder or a dvclive folder")


def mlflow_run(run_id: str, tracking_uri: str | None = None, environ: Mapping[str, str] | None = None) -> RunData:
    """An MLflow run by id, from ``tracking_uri`` (default ``MLFLOW_TRACKING_URI``)."""
    return RunSource(mlflow_run=run_id, mlflow_tracking_uri=tracking_uri).head(os.environ if environ is None else environ)


def sacred_run(folder: str, revision: str | None = None) -> RunData:
    """A Sacred ``FileStorageObserver`` run folder, in the working tree or at git ``revision``."""
    return RunSource(sacred=folder).head({}, revision)


def dvclive_run(folder: str = "dvclive", revision: str | None = None) -> RunData:
    """dvclive's output folder, in the working tree or at git ``revision``."""
    return RunSource(dvclive=folder).head({}, revision)
