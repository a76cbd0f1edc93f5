"""Bitbucket Cloud: the repository's Downloads, Bitbucket's own file storage."""

from __future__ import annotations

from urllib.parse import quote

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, in_parallel
from cml.forges.errors import ForgeNotFoundError

DEFAULT_WEB_URL = "https://bitbucket.org"


class BitbucketDownloadsPublisher(Publisher):
    """``POST /repositories/{workspace}/{repo_slug}/downloads`` (multipart ``files``).

    A file whose content-addressed name is already in Downloads (``GET …/downloads/{name}``
    answers with a redirect) is not sent again. Links are
    ``https://bitbucket.org/{workspace}/{repo_slug}/downloads/{name}``, readable by
    everyone who can read the repository.
    """

    label = "Bitbucket Downloads"

    def __init__(self, forge, web_url: str | None = None):
        super().__init__()
        self.forge = forge
        self.web_url = (web_url or DEFAULT_WEB_URL).rstrip("/")
        self._downloads = f"/repositories/{forge.repository}/downloads"

    def _publish_one(self, asset: Asset) -> str:
        try:
            self.forge.api.request("GET", f"{self._downloads}/{quote(asset.name)}", f"looking up {asset.origin}",
                                   allow_redirects=False)
        except ForgeNotFoundError:
            self.forge.api.request("POST", self._downloads, f"uploading {asset.origin}",
                                   files={"files": (asset.name, asset.data, asset.mime_type)})
        return f"{self.web_url}/{self.forge.repository}/downloads/{quote(asset.name)}"

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        return dict(zip((a.name for a in assets), in_parallel(self._publish_one, assets)))
