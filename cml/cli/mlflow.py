"""``cml mlflow download``: an MLflow run's artifacts into the report folder."""

from __future__ import annotations

import os

import click

from cml import git
from cml.cli.app import Application
from cml.cli.options import CmlGroup, pass_app
from cml.errors import UsageError
from cml.report.markdown import image_markdown, link_target
from cml.trackers.mlflow import MlflowServer

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
@click.option("--report", metavar="REPORT.md", type=click.Path(dir_okay=False),
              envvar=["CML_MLFLOW_DOWNLOAD_REPORT", "CML_REPORT"],
              help="The Markdown file this output is appended to; links are printed relative to its folder.")
@pass_app
def download(app: Application, paths, run_id, experiment, rev, tracking_uri, destination, md, report) -> None:
    """Download a run's artifacts (every one when none is named) and print their local paths, or Markdown
    with --md: images as ![name](path), other files as links. Images are then published with the report.

    \b
    Examples:
      cml mlflow download --experiment train plots/confusion.png -o plots --md --report report.md >> report.md
      cml mlflow download --run 0a1b2c3d4e5f --md >> report.md
    """
    if bool(run_id) == bool(experiment):
        raise UsageError("pass --run RUN_ID or --experiment NAME", parameter="run_id")
    server = MlflowServer(tracking_uri, app.environ)
    run_id = run_id or server.run_for_commit(experiment, git.resolve(rev).sha)
    folder = os.path.dirname(os.path.abspath(report)) if report else os.curdir
    lines = []
    for path in paths or server.artifacts(run_id):
        local = server.download_artifact(run_id, path, destination)
        if not md:
            app.output(os.path.relpath(local).replace(os.sep, "/"))
            continue
        link = image_markdown(os.path.basename(path), link_target(local, folder))
        # Other files get the same escaping as an image, as a plain link.
        lines.append(link if path.lower().endswith(IMAGE_SUFFIXES) else link[1:])
    if lines:
        app.markdown("\n".join(lines))
