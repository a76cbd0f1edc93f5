"""``cml mlflow download``: an MLflow run's artifacts into the report folder."""

from __future__ import annotations

import os

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, pass_app

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


@click.group(cls=CmlGroup, name="mlflow")
def command() -> None:
    """MLflow runs' artifacts (metrics and params: cml metrics/params/plot line --mlflow-run)."""


@command.command()
@click.argument("paths", nargs=-1, metavar="[ARTIFACT]...")
@click.option("--run", "run_id", metavar="RUN_ID", help="The run  [or --experiment with the commit's run]")
@click.option("--experiment", metavar="NAME", help="Take the run of this experiment logged from HEAD (or --rev).")
@click.option("--rev", default="HEAD", show_default=True, metavar="REV", help="Commit whose run --experiment finds.")
@click.option("--tracking-uri", metavar="URL", help="Tracking server  [default: MLFLOW_TRACKING_URI]")
@click.option("-o", "--output", "destination", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Folder to write the artifacts into (under their artifact paths).")
@click.option("--md", is_flag=True, help="Print a Markdown image or link per file instead of its path.")
@pass_app
def download(app: Application, paths, run_id, experiment, rev, tracking_uri, destination, md) -> None:
    """Download a run's artifacts (every one when none is named) and print their local paths, or Markdown
    with --md: images as ![name](path), other files as links. Images are then published with the report."""
    from cml import git
    from cml.errors import UsageError
    from cml.trackers.mlflow import MlflowServer

    if bool(run_id) == bool(experiment):
        raise UsageError("pass --run RUN_ID or --experiment NAME", option="--run")
    server = MlflowServer(tracking_uri, app.environ)
    run_id = run_id or server.run_for_commit(experiment, git.resolve(rev).sha)
    for path in paths or server.artifacts(run_id):
        local = server.download_artifact(run_id, path, destination)
        relative = os.path.relpath(local).replace(os.sep, "/")
        if not md:
            app.output(relative)
        elif path.lower().endswith(IMAGE_SUFFIXES):
            app.output(f"![{os.path.basename(path)}]({relative})")
        else:
            app.output(f"[{os.path.basename(path)}]({relative})")
