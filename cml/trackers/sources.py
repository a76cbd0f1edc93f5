"""Which run a command reads: ``--mlflow-run``/``--mlflow-experiment``, ``--sacred DIR`` or ``--dvclive DIR``,
for the head side and for the base side of a diff."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping

from cml.errors import UsageError
from cml.trackers import RunData


@dataclass(frozen=True)
class RunSource:
    """The run options of one command; at most one kind of source."""

    mlflow_run: str | None = None
    mlflow_experiment: str | None = None
    mlflow_base_run: str | None = None
    mlflow_tracking_uri: str | None = None
    sacred: str | None = None
    dvclive: str | None = None

    def __post_init__(self):
        kinds = [flag for flag, on in (("--mlflow-run/--mlflow-experiment", self.mlflow_run or self.mlflow_experiment),
                                       ("--sacred", self.sacred), ("--dvclive", self.dvclive)) if on]
        if len(kinds) > 1:
            raise UsageError(f"use one run source at a time, not {' and '.join(kinds)}", parameter=kinds[1].split("/")[0])
        if self.mlflow_base_run and not (self.mlflow_run or self.mlflow_experiment):
            raise UsageError("needs --mlflow-run or --mlflow-experiment", parameter="--mlflow-base-run")

    @property
    def flag(self) -> str:
        """The option that chose this source, for error messages."""
        return "--mlflow-run" if self.is_mlflow else "--sacred" if self.sacred else "--dvclive"

    @property
    def active(self) -> bool:
        return bool(self.mlflow_run or self.mlflow_experiment or self.sacred or self.dvclive)

    @property
    def is_mlflow(self) -> bool:
        return bool(self.mlflow_run or self.mlflow_experiment)

    def _server(self, environ: Mapping[str, str]):
        from cml.trackers.mlflow import MlflowServer

        return MlflowServer(self.mlflow_tracking_uri, environ)

    def head(self, environ: Mapping[str, str], revision: str | None = None) -> RunData:
        """The run to show, or the new side of a diff: the folder in the working tree (or at ``revision``),
        the MLflow run given, or the experiment's run logged from HEAD (or ``revision``)."""
        from cml import git

        if self.is_mlflow:
            server = self._server(environ)
            run_id = self.mlflow_run or server.run_for_commit(self.mlflow_experiment, git.resolve(revision or "HEAD").sha)
            return server.run(run_id)
        return self._folder_run(git.resolve(revision) if revision else None)

    def base(self, environ: Mapping[str, str], revision: str) -> RunData:
        """The old side of a diff: the same folder at ``revision``, ``--mlflow-base-run``, or the experiment's run
        logged from ``revision``."""
        from cml import git

        if self.is_mlflow:
            server = self._server(environ)
            if self.mlflow_base_run:
                return server.run(self.mlflow_base_run)
            if not self.mlflow_experiment:
                raise UsageError("to compare an MLflow run, also pass --mlflow-base-run RUN_ID, or --mlflow-experiment "
                                 "NAME to find both runs by the commits they were logged from",
                                 parameter="--mlflow-run")
            return server.run(server.run_for_commit(self.mlflow_experiment, git.resolve(revision).sha))
        return self._folder_run(git.resolve(revision))

    def _folder_run(self, revision) -> RunData:
        from cml.trackers.files import FolderReader, dvclive_run, sacred_run

        if self.sacred:
            return sacred_run(FolderReader(self.sacred, revision))
        if self.dvclive:
            return dvclive_run(FolderReader(self.dvclive, revision))
        raise UsageError("no run source: pass --mlflow-run, --mlflow-experiment, --sacred or --dvclive")


def mlflow_run(run_id: str, tracking_uri: str | None = None, environ: Mapping[str, str] | None = None) -> RunData:
    """An MLflow run by id, from ``tracking_uri`` (default ``MLFLOW_TRACKING_URI``)."""
    import os

    return RunSource(mlflow_run=run_id, mlflow_tracking_uri=tracking_uri).head(os.environ if environ is None else environ)


def sacred_run(folder: str, revision: str | None = None) -> RunData:
    """A Sacred ``FileStorageObserver`` run folder, in the working tree or at git ``revision``."""
    return RunSource(sacred=folder).head({}, revision)


def dvclive_run(folder: str = "dvclive", revision: str | None = None) -> RunData:
    """dvclive's output folder, in the working tree or at git ``revision``."""
    return RunSource(dvclive=folder).head({}, revision)
