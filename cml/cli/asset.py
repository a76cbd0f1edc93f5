"""``cml asset publish``: publish one file and print its URL (or Markdown)."""

from __future__ import annotations

import os

import click

from cml.cli.app import Application
from cml.cli.options import CmlGroup, forge_options, open_forge_from_options, pass_app, publish_options


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
    from cml.assets.backends import open_publisher
    from cml.assets.content import Asset
    from cml.assets.references import MAX_LINKED_FILE_BYTES, Boundary
    from cml.fileio import write_atomic
    from cml.forges.base import Target
    from cml.forges.delivery import parse_target
    from cml.secrets import refuse_secrets

    if gitlab_uploads:
        app.warn("--gitlab-uploads will be deprecated soon, use --native instead")
    data = Boundary.for_folder(os.getcwd(), app.environ, allow_outside).read(path, MAX_LINKED_FILE_BYTES, "published files")
    refuse_secrets(data, path)
    asset = Asset.from_bytes(data, os.path.basename(path), mime_type)
    forge = context = None
    issue = None
    if not (publish_settings.url or "").strip():
        context, forge = open_forge_from_options(app, forge_settings)
        chosen = parse_target(target)
        if isinstance(chosen, Target) and chosen.kind in ("pr", "issue"):
            issue = int(chosen.ref)
        elif context.pull_request:
            issue = context.pull_request
    publisher = open_publisher(publish_settings, forge, context, issue, app.environ, app.warn, absolute_links=True)
    url = publisher.publish([asset])[asset.name]
    output = markdown_reference(url, title, asset.is_image, os.path.basename(path)) if md else url
    if output_file:
        write_atomic(output_file, output + "\n")
    elif md:
        app.markdown(output)
    else:
        app.output(output)


def markdown_reference(url: str, title: str, image: bool, name: str) -> str:
    """iterative/cml's ``--md`` forms: ``![](url "title")`` for images and videos (``![](url)`` without a title),
    ``[title](url)`` for other files (the file's name without a title)."""
    title = " ".join(title.split())
    destination = f"<{url}>" if any(c in url for c in " ()") else url
    if image:
        if not title:
            return f"![]({destination})"
        quoted = title.replace("\\", "\\\\").replace('"', '\\"')
        return f'![]({destination} "{quoted}")'
    text = (title or name).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]").replace("<", "\\<")
    return f"[{text}]({destination})"
