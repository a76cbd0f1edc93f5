"""The options that read a tracked run (MLflow, Sacred, dvclive) instead of files."""

from __future__ import annotations

import functools

import click


def run_source_options(function):
    """``--mlflow-run``, ``--mlflow-experiment``, ``--mlflow-base-run``, ``--mlflow-tracking-uri``, ``--sacred`` and
    ``--dvclive``; the command receives one ``run_source`` keyword (a :class:`cml.trackers.sources.RunSource`)."""

    @click.option("--mlflow-run", metavar="RUN_ID", help="Read an MLflow run (MLFLOW_TRACKING_URI) instead of files.")
    @click.option("--mlflow-experiment", metavar="NAME",
                  help="Read the MLflow run of this experiment logged from the commit (tag mlflow.source.git.commit).")
    @click.option("--mlflow-base-run", metavar="RUN_ID", help="Compare with this MLflow run instead of the base commit's.")
    @click.option("--mlflow-tracking-uri", metavar="URL", help="MLflow tracking server  [default: MLFLOW_TRACKING_URI]")
    @click.option("--sacred", metavar="DIR", help="Read a Sacred FileStorageObserver run folder instead of files.")
    @click.option("--dvclive", metavar="DIR", help="Read dvclive's output folder instead of files.")
    @functools.wraps(function)
    def wrapper(*args, mlflow_run, mlflow_experiment, mlflow_base_run, mlflow_tracking_uri, sacred, dvclive, **kwargs):
        from cml.trackers.sources import RunSource  # the trackers load when a command runs, not at start-up

        source = RunSource(mlflow_run, mlflow_experiment, mlflow_base_run, mlflow_tracking_uri, sacred, dvclive)
        return function(*args, run_source=source, **kwargs)

    return wrapper
