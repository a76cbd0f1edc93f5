"""Bitbucket Cloud: the repository's Downloads, Bitbucket's own file storage."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, in_parallel
from cml.ci import RepositoryContext
from cml.forges.base import Forge
from cml.forges.bitbucket import BitbucketForge
from cml.forges.errors import ForgeNotFoundError

if TYPE_CHECKING:
    from cml.assets.backends import PublishSettings

DEFAULT_WEB_URL = BitbucketForge.public_web_url or ""


class BitbucketDownloadsPublisher(Publisher):
    """``POST /repositories/{workspace}/{repo_slug}/downloads`` (multipart ``files``).

    A file whose content-addressed name is already in Downloads (``GET …/downloads/{name}``
    answers with a redirect) is not sent again. Links are
    ``https://bitbucket.org/{workspace}/{repo_slug}/downloads/{name}``, readable by
    everyone who can read the repository.
    """

    label = "Bitbucket Downloads"
    #: The adapter whose repository this stores files in.
    serves: ClassVar[type[Forge]] = BitbucketForge

    @classmethod
    def for_forge(cls, forge: BitbucketForge, context: RepositoryContext, settings: PublishSettings,
                  issue_number: int | None, absolute_links: bool) -> BitbucketDownloadsPublisher:
        """The repository's Downloads, linked under the CI's server (else bitbucket.org)."""
        return cls(forge, context.server_url)

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
