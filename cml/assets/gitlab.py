"""GitLab: the project uploads API, GitLab's own storage for files shown in notes."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, in_parallel
from cml.ci import RepositoryContext
from cml.forges.base import Forge
from cml.forges.gitlab import GitLabForge

if TYPE_CHECKING:
    from cml.assets.backends import PublishSettings

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
    #: The adapter whose project this stores files in.
    serves: ClassVar[type[Forge]] = GitLabForge

    @classmethod
    def for_forge(cls, forge: GitLabForge, context: RepositoryContext, settings: PublishSettings,
                  issue_number: int | None, absolute_links: bool) -> GitLabUploadsPublisher:
        """Project uploads, linked with the project's web URL when ``absolute_links``."""
        return cls(forge, absolute=absolute_links)

    def __init__(self, forge: GitLabForge, absolute: bool = False):
        super().__init__()
        self.forge = forge
        self.absolute = absolute

    def _upload(self, asset: Asset) -> str:
        url = self.forge.upload_file(asset.name, asset.data, asset.mime_type, f"uploading {asset.origin}")
        return f"{self.forge.web_url}{url}" if self.absolute and url.startswith("/") else url

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        return dict(zip((a.name for a in assets), in_parallel(self._upload, assets)))
