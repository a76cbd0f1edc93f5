"""An HTTP asset server speaking iterative/cml's protocol (``--publish-url https://…``).

For teams that self-host such a server (iterative/minroud-s3 and the like):
``POST`` the raw bytes with ``Content-Type`` and ``Content-Disposition``; the
answer's body is the file's URL. Used only when the user names the server.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, in_parallel
from cml.errors import ServiceRequestError
from cml.http import HttpPolicy, JsonApi

PUBLIC_HOSTS = ("asset.cml.dev",)


class AssetServerPublisher(Publisher):
    """``POST <url>`` per distinct file; the response text is the URL."""

    def __init__(self, url: str, policy: HttpPolicy | None = None, warn: Callable[[str], None] = lambda message: None):
        super().__init__()
        host = urlsplit(url).hostname or url
        self.label = f"asset server {host}"
        self.api = JsonApi(url, {"Accept": "text/plain"}, policy or HttpPolicy(), self.label)
        if host in PUBLIC_HOSTS:
            warn(f"{host} is a public host: anyone with a link can read the files published there")

    def _upload(self, asset: Asset) -> str:
        response = self.api.request("POST", "", f"uploading {asset.origin}", data=asset.data, headers={
            "Content-Type": asset.mime_type, "Content-Disposition": f'inline; filename="{asset.name}"'})
        url = response.text.strip()
        if not url.startswith(("http://", "https://")):
            raise ServiceRequestError(f"{self.label}: uploading {asset.origin}: the answer was not a URL ({url[:80]!r})")
        return url

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        return dict(zip((a.name for a in assets), in_parallel(self._upload, assets)))
