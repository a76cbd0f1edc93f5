"""Gitea and Forgejo: attachments of the pull request or issue the report goes to."""

from __future__ import annotations

import fnmatch
import os
from typing import TYPE_CHECKING, ClassVar

from cml.assets.content import Asset, AssetError, format_size
from cml.assets.publisher import Publisher, in_parallel
from cml.ci import RepositoryContext
from cml.errors import UsageError
from cml.forges.base import Forge
from cml.forges.errors import ForgeError
from cml.forges.gitea import GiteaForge

if TYPE_CHECKING:
    from cml.assets.backends import PublishSettings


class GiteaAttachmentsPublisher(Publisher):
    """``POST /repos/{owner}/{repo}/issues/{index}/assets`` (multipart ``attachment``).

    The instance's limits come from ``GET /settings/attachment`` (size in MB and
    allowed types) and are checked before anything is sent; names already attached
    to the issue (``GET …/issues/{index}/assets``) are reused.
    """

    label = "Gitea attachments"
    #: The adapter whose pull requests and issues this attaches files to.
    serves: ClassVar[type[Forge]] = GiteaForge

    @classmethod
    def for_forge(cls, forge: GiteaForge, context: RepositoryContext, settings: PublishSettings,
                  issue_number: int | None, absolute_links: bool) -> GiteaAttachmentsPublisher:
        """Attachments of pull request or issue ``issue_number``, which a report must go to."""
        if issue_number is None:
            raise UsageError("Gitea keeps attachments on a pull request or issue; post to one (--target pr/N or "
                             "issue/N) or publish with --publish-url s3://BUCKET/PREFIX", parameter="target")
        return cls(forge, issue_number)

    def __init__(self, forge, issue_number: int):
        super().__init__()
        self.forge = forge
        self.issue_number = issue_number
        self._assets_path = f"/repos/{forge.repository}/issues/{issue_number}/assets"

    def _check_settings(self, assets: list[Asset]) -> None:
        settings = self.forge.api.json("GET", "/settings/attachment", "reading the attachment settings") or {}
        if settings.get("enabled") is False:
            raise AssetError("attachments are disabled on this Gitea instance; publish with --publish-url s3://… "
                             "or post with --no-publish")
        limit = int(settings.get("max_size") or 0) * 1024 * 1024 or None
        allowed = [t.strip().lower() for t in str(settings.get("allowed_types") or "").split(",") if t.strip()]
        for asset in assets:
            asset.check_size(limit, self.label)
            extension = os.path.splitext(asset.name)[1].lower()
            if allowed and "*/*" not in allowed and not any(
                    t == extension or fnmatch.fnmatch(asset.mime_type, t) for t in allowed):
                raise AssetError(f"{asset.origin} ({asset.mime_type}, {format_size(asset.size)}): this Gitea instance "
                                 f"only accepts attachments of type {', '.join(allowed)}; convert it, or ask the admin "
                                 "to extend [attachment] ALLOWED_TYPES")

    def _upload(self, asset: Asset) -> str:
        attachment = self.forge.api.json("POST", self._assets_path, f"uploading {asset.origin}",
                                         params={"name": asset.name},
                                         files={"attachment": (asset.name, asset.data, asset.mime_type)})
        if not attachment or not attachment.get("browser_download_url"):
            raise ForgeError(f"Gitea: uploading {asset.origin}: the answer had no download URL")
        return attachment["browser_download_url"]

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        self._check_settings(assets)
        attached = self.forge.api.json("GET", self._assets_path, "listing the attachments") or []
        urls = {a["name"]: a["browser_download_url"] for a in attached if a.get("name") and a.get("browser_download_url")}
        missing = [asset for asset in assets if asset.name not in urls]
        urls.update(zip((a.name for a in missing), in_parallel(self._upload, missing)))
        return {asset.name: urls[asset.name] for asset in assets}
