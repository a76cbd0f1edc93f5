"""Choosing where files are published: the forge's own storage unless ``--publish-url`` says otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from collections.abc import Mapping

from cml.assets.github import DEFAULT_BRANCH
from cml.assets.publisher import Publisher
from cml.assets.s3 import MAX_PRESIGN_SECONDS
from cml.errors import UsageError


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
                             parameter="--publish-url")
        if self.native and self.url:
            raise UsageError("--native publishes to the forge's own storage; drop it or drop --publish-url",
                             parameter="--publish-url")


def open_publisher(
    settings: PublishSettings,
    forge,
    context,
    issue_number: int | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda message: None,
    absolute_links: bool = False,
) -> Publisher:
    """The publisher for ``settings``: S3 or an asset server for ``--publish-url``, else the forge's storage.

    ``forge`` may be ``None`` only with ``--publish-url``. ``issue_number`` is the pull
    request or issue the report goes to (Gitea keeps attachments on one).
    """
    url = (settings.url or "").strip()
    if url.startswith("s3://"):
        from cml.assets.s3 import S3Publisher

        return S3Publisher(url, settings.public, settings.expires, environ, warn)
    if url.startswith(("https://", "http://")):
        from cml.assets.server import AssetServerPublisher

        return AssetServerPublisher(url, getattr(forge, "policy", None), warn)
    if forge is None:
        raise UsageError("no forge to publish to; pass --publish-url s3://BUCKET/PREFIX", parameter="--publish-url")
    if forge.name == "github":
        from cml.assets.github import GitHubBranchPublisher

        return GitHubBranchPublisher(forge, context.server_url, settings.branch)
    if forge.name == "gitlab":
        from cml.assets.gitlab import GitLabUploadsPublisher

        return GitLabUploadsPublisher(forge, absolute=absolute_links)
    if forge.name == "bitbucket":
        from cml.assets.bitbucket import BitbucketDownloadsPublisher

        return BitbucketDownloadsPublisher(forge, context.server_url)
    if forge.name == "gitea":
        from cml.assets.gitea import GiteaAttachmentsPublisher

        if issue_number is None:
            raise UsageError("Gitea keeps attachments on a pull request or issue; post to one (--target pr/N or "
                             "issue/N) or publish with --publish-url s3://BUCKET/PREFIX", parameter="--target")
        return GiteaAttachmentsPublisher(forge, issue_number)
    raise UsageError(f"no publisher for {forge.name}; pass --publish-url s3://BUCKET/PREFIX", parameter="--publish-url")
