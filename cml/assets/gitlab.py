"""GitLab: the project uploads API, GitLab's own storage for files shown in notes."""

from __future__ import annotations

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, in_parallel
from cml.forges.gitlab import NO_CLIENT_RETRIES

#: GitLab's default maximum attachment size (an instance setting; GitLab.com keeps the default).
ATTACHMENT_LIMIT = 100 * 1024 * 1024


class GitLabUploadsPublisher(Publisher):
    """``POST /projects/:id/uploads`` (multipart ``file``), one request per distinct file.

    GitLab returns a project-relative ``/uploads/<secret>/<name>`` URL, which notes
    render for everyone who can see the project; ``absolute`` prefixes the project's
    web URL for use outside GitLab. GitLab has no lookup by content, so files are
    deduplicated within a run, not across runs.
    """

    label = "GitLab uploads"
    size_limit = ATTACHMENT_LIMIT

    def __init__(self, forge, absolute: bool = False):
        super().__init__()
        self.forge = forge
        self.absolute = absolute

    def _upload(self, asset: Asset) -> str:
        # Not project.upload(): it sends no content type for the file part.
        path = f"/projects/{self.forge.project.encoded_id}/uploads"
        uploaded = self.forge.call(f"uploading {asset.origin}", lambda: self.forge.project.manager.gitlab.http_post(
            path, files={"file": (asset.name, asset.data, asset.mime_type)}, **NO_CLIENT_RETRIES))
        url = uploaded["url"]
        return f"{self.forge.web_url}{url}" if self.absolute and url.startswith("/") else url

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        return dict(zip((a.name for a in assets), in_parallel(self._upload, assets)))
