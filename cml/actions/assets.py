"""Publishing one file where reviewers can see it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from cml.actions.connection import Connection, Warn, log_warning
from cml.actions.delivery import parse_target
from cml.assets.backends import PublishSettings, open_publisher
from cml.assets.content import Asset
from cml.assets.references import MAX_LINKED_FILE_BYTES
from cml.ci import RepositoryContext
from cml.fileio import Boundary
from cml.forges.base import Forge, Target
from cml.secrets import refuse_secrets


@dataclass(frozen=True)
class PublishedFile:
    """A published file: its ``url``, and what :meth:`markdown` needs to show it."""

    url: str
    name: str
    mime_type: str
    is_image: bool

    def markdown(self, title: str = "") -> str:
        """iterative/cml's ``--md`` form of the file: an image for images and videos, else a link."""
        return markdown_reference(self.url, title, self.is_image, self.name)


def publish(
    path: str,
    *,
    mime_type: str | None = None,
    target: str = "auto",
    storage: PublishSettings | None = None,
    allow_outside: Sequence[str] = (),
    connection: Connection | None = None,
    warn: Warn | None = None,
) -> PublishedFile:
    """Publish the file at ``path`` to the forge's own storage (or to ``storage.url``: ``s3://BUCKET/PREFIX`` or an
    asset server) and return it with its URL (``.url``).

    The file must be inside the current folder, the CI workspace or an ``allow_outside`` folder, and carry no token
    of this job. ``mime_type`` defaults to one guessed from the name and content. ``target`` (``pr/N`` or
    ``issue/N``) is the pull request or issue that keeps the attachment on Gitea; ``auto``: the CI's.
    """
    connection = connection or Connection()
    storage = storage or PublishSettings()
    environ = connection.env
    data = Boundary.for_folder(os.getcwd(), environ, allow_outside).read(path, MAX_LINKED_FILE_BYTES, "published files")
    refuse_secrets(data, path)
    name = os.path.basename(path)
    asset = Asset.from_bytes(data, name, mime_type)
    forge: Forge | None = None
    context: RepositoryContext | None = None
    issue = None
    if not (storage.url or "").strip():
        context, forge = connection.open()
        chosen = parse_target(target)
        if isinstance(chosen, Target) and chosen.kind in ("pr", "issue"):
            issue = int(chosen.ref)
        elif context.pull_request:
            issue = context.pull_request
    publisher = open_publisher(storage, forge, context, issue, environ, warn or log_warning,  # type: ignore[arg-type]
                               absolute_links=True)
    url = publisher.publish([asset])[asset.name]
    return PublishedFile(url, name, asset.mime_type, asset.is_image)


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
