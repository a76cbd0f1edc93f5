"""``cml asset publish``: publish one file and print its URL (or Markdown)."""

from __future__ import annotations

import click

from cml.actions import Connection, publish as publish_file
from cml.actions.assets import markdown_reference
from cml.cli.app import Application
from cml.cli.forge_options import forge_options, publish_options
from cml.cli.options import CmlGroup, pass_app
from cml.fileio import write_atomic

__all__ = ["command", "markdown_reference"]


@click.group(cls=CmlGroup, name="asset")
def command() -> None:
    """Publish files where reviewers can see them."""


@command.command()
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--md", is_flag=True, help="Print Markdown (an image for images, else a link) instead of the URL.")
@click.option("-t", "--title", default="", help="With --md: the image's title (tooltip), or the link's text.")
@click.option("--mime-type", metavar="TYPE", help="Content type  [default: from the file name and content]")
@click.option("--target", default="auto", show_default=True,
              help="Gitea only: the pull request or issue (pr/N, issue/N) that keeps the attachment.")
@click.option("-f", "--file", "output_file", type=click.Path(dir_okay=False), hidden=True,
              help="Write the output to this file.")
@click.option("--rm-watermark", is_flag=True, hidden=True, help="Accepted for iterative/cml workflows; no effect.")
@click.option("--gitlab-uploads", is_flag=True, hidden=True, help="Deprecated: --native.")
@publish_options(("--url", "--publish-url"), for_report=False)
@forge_options
@pass_app
def publish(app: Application, path, md, title, mime_type, target, output_file, rm_watermark, gitlab_uploads,
            publish_settings, allow_outside, strict, skip_missing, forge_settings) -> None:
    """Publish FILE to the forge's storage (or --url s3://BUCKET/PREFIX) and print its URL.

    \b
    Examples:
      cml asset publish plot.png --md --title "Confusion matrix" >> report.md
      cml asset publish model-card.pdf --url s3://my-bucket/reports
    """
    if gitlab_uploads:
        app.warn("--gitlab-uploads will be deprecated soon, use --native instead")
    published = publish_file(path, mime_type=mime_type, target=target, storage=publish_settings,
                             allow_outside=allow_outside, connection=Connection(**forge_settings, environ=app.environ),
                             warn=app.warn)
    output = published.markdown(title) if md else published.url
    if output_file:
        write_atomic(output_file, output + "\n")
    elif md:
        app.markdown(output)
    else:
        app.output(output)
