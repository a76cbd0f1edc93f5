"""Gitea and Forgejo: attachments of the pull request or issue the report goes to."""

from __future__ import annotations

import fnmatch
import os

from cml.assets.content import Asset, AssetError, format_size
from cml.assets.publisher import Publisher, in_parallel
from cml.forges.errors import ForgeError


class GiteaAttachmentsPublisher(Publisher):
    """``POST /repos/{owner}/{repo}/issues/{index}/assets`` (multipart ``attachment``).

    The instance's limits come from ``GET /settings/attachment`` (size in MB and
    allowed types) and are checked before anything is sent; names already attached
    to the issue (``GET …/issues/{index}/assets``) are reused.
    """

    label = "Gitea attachments"

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
