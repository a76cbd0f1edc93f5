"""Choosing where files are published: the forge's own storage unless ``--publish-url`` says otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Protocol

from cml.assets.bitbucket import BitbucketDownloadsPublisher
from cml.assets.gitea import GiteaAttachmentsPublisher
from cml.assets.github import DEFAULT_BRANCH, GitHubBranchPublisher
from cml.assets.gitlab import GitLabUploadsPublisher
from cml.assets.publisher import Publisher
from cml.assets.s3 import MAX_PRESIGN_SECONDS, S3Publisher
from cml.assets.server import AssetServerPublisher
from cml.ci import RepositoryContext
from cml.errors import UsageError
from cml.forges.base import Forge


@dataclass(frozen=True)
class PublishSettings:
    """What ``--publish-url``, ``--native``, ``--publish-branch``, ``--publish-public`` and
    ``--publish-expires`` asked for."""

    url: str | None = None
    native: bool = False
    branch: str = DEFAULT_BRANCH
    public: bool = False
    expires: int = MAX_PRESIGN_SECONDS

    def __post_init__(self) -> None:
        url = (self.url or "").strip()
        if url and not url.startswith(("s3://", "https://", "http://")):
            raise UsageError(f"cannot publish to '{url}'; use s3://BUCKET/PREFIX or an https:// asset server",
                             parameter="publish_url")
        if self.native and self.url:
            raise UsageError("--native publishes to the forge's own storage; drop it or drop --publish-url",
                             parameter="publish_url")


class ForgeStoragePublisher(Protocol):
    """A publisher to one forge's own storage: it names the adapter class it serves and builds itself from what
    :func:`open_publisher` has."""

    serves: ClassVar[type[Forge]]

    @classmethod
    def for_forge(cls, forge: Any, context: RepositoryContext, settings: PublishSettings,
                  issue_number: int | None, absolute_links: bool) -> Publisher:
        """The publisher for ``forge``'s repository; a :class:`UsageError` when the report's destination cannot
        hold files."""


#: The publisher of each forge's own storage.
FORGE_PUBLISHERS: tuple[type[ForgeStoragePublisher], ...] = (
    GitHubBranchPublisher, GitLabUploadsPublisher, BitbucketDownloadsPublisher, GiteaAttachmentsPublisher,
)


def open_publisher(
    settings: PublishSettings,
    forge: Forge | None,
    context: RepositoryContext,
    issue_number: int | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    absolute_links: bool = False,
) -> Publisher:
    """The publisher for ``settings``: S3 or an asset server for ``publish_url``, else the forge's storage
    (the first of :data:`FORGE_PUBLISHERS` serving ``forge``).

    ``forge`` may be ``None`` only with a ``publish_url``. ``issue_number`` is the pull
    request or issue the report goes to (Gitea keeps attachments on one).
    """
    url = (settings.url or "").strip()
    if url.startswith("s3://"):
        return S3Publisher(url, settings.public, settings.expires, environ, warn)
    if url.startswith(("https://", "http://")):
        return AssetServerPublisher(url, getattr(forge, "policy", None), warn)
    if forge is None:
        raise UsageError("no forge to publish to; pass --publish-url s3://BUCKET/PREFIX", parameter="publish_url")
    for publisher in FORGE_PUBLISHERS:
        if isinstance(forge, publisher.serves):
            return publisher.for_forge(forge, context, settings, issue_number, absolute_links)
    raise UsageError(f"no publisher for {forge.name}; pass --publish-url s3://BUCKET/PREFIX", parameter="publish_url")
