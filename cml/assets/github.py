"""GitHub has no upload API for comments: commit the files to a dedicated branch instead.

The commit is made through the Git Data API (no clone, nothing pushed from the
runner): blobs, one tree on top of the branch's tree, one commit whose parent is
the branch head, and a fast-forward-only ref update, so history is never
rewritten. Links use ``https://HOST/OWNER/REPO/raw/BRANCH/NAME``, which GitHub
serves to everyone who can read the repository, private repositories included.
The token needs ``contents: write``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from cml.assets.content import Asset
from cml.assets.publisher import Publisher, PublishingRefused, in_parallel
from cml.ci import RepositoryContext
from cml.forges.base import Forge
from cml.forges.errors import ForgeError, ForgePermissionError, ForgeRequestError
from cml.forges.github import GitHubForge

if TYPE_CHECKING:
    from cml.assets.backends import PublishSettings

DEFAULT_BRANCH = "cml-assets"
#: GitHub refuses blobs over 100 MB.
BLOB_LIMIT = 100 * 1024 * 1024
REF_UPDATE_ATTEMPTS = 5
#: What a workflow needs to publish files and post the report, as lines to paste into its job.
PERMISSIONS_FIX = "permissions:\n  contents: write\n  pull-requests: write"


def web_url_for(api_url: str) -> str:
    """``https://github.com`` for ``https://api.github.com``; ``https://HOST`` for ``https://HOST/api/v3``."""
    base = api_url.rstrip("/")
    if base == "https://api.github.com":
        return "https://github.com"
    return base[: -len("/api/v3")] if base.endswith("/api/v3") else base


class GitHubBranchPublisher(Publisher):
    """Commits files to ``branch`` through the Git Data API and links their ``raw`` URLs.

    Endpoints: ``GET /repos/{owner}/{repo}/git/ref/heads/{branch}``, ``GET …/git/commits/{sha}``,
    ``GET …/git/trees/{sha}``, ``POST …/git/blobs``, ``POST …/git/trees``, ``POST …/git/commits``,
    ``PATCH …/git/refs/heads/{branch}`` (``force: false``) or ``POST …/git/refs`` for a new branch.
    """

    size_limit = BLOB_LIMIT
    #: The adapter whose repository this stores files in.
    serves: ClassVar[type[Forge]] = GitHubForge

    @classmethod
    def for_forge(cls, forge: GitHubForge, context: RepositoryContext, settings: PublishSettings,
                  issue_number: int | None, absolute_links: bool) -> GitHubBranchPublisher:
        """Files on ``settings.branch``, linked under the CI's server (else the API's web address)."""
        return cls(forge, context.server_url, settings.branch)

    def __init__(self, forge: GitHubForge, server_url: str | None = None, branch: str = DEFAULT_BRANCH):
        super().__init__()
        self.forge = forge
        self.branch = branch.strip() or DEFAULT_BRANCH
        self.label = f"GitHub branch {self.branch}"
        self.server_url = (server_url or web_url_for(forge.api_url)).rstrip("/")
        self._blobs: dict[str, str] = {}

    def url_of(self, name: str) -> str:
        return f"{self.server_url}/{self.forge.repository}/raw/{quote(self.branch)}/{quote(name)}"

    def _blob(self, asset: Asset) -> str:
        if asset.name not in self._blobs:
            self._blobs[asset.name] = self.forge.create_blob(asset.data, f"uploading {asset.origin}")
        return self._blobs[asset.name]

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        try:
            return self._commit(assets)
        except ForgePermissionError as error:
            raise PublishingRefused(
                f"{error}; publishing on GitHub commits the files to the {self.branch} branch, which needs "
                "'contents: write' (workflow permissions), or choose --publish-url s3://… or --no-publish",
                "the token cannot write to this repository's contents",
                f"Give the job these permissions in the workflow file:\n{PERMISSIONS_FIX}",
            ) from None

    def _commit(self, assets: list[Asset]) -> dict[str, str]:
        """One commit adding the ``assets`` the branch lacks, on top of its head, retried when another job
        moved it first."""
        refused: tuple[str | None, ForgeRequestError] | None = None
        for _ in range(REF_UPDATE_ATTEMPTS):
            tip = self.forge.branch_tip(self.branch)
            head_sha = tip.commit_sha if tip is not None else None
            if refused is not None and refused[0] == head_sha:
                raise refused[1]  # the branch did not move, so the refusal was not a race
            present = tip.paths if tip is not None else frozenset()
            missing = [asset for asset in assets if asset.name not in present]
            if not missing:
                break
            try:
                # One write first: a token without 'contents: write' is then refused once, not once per file.
                shas = [self._blob(missing[0]), *in_parallel(self._blob, missing[1:])]
                message = f"cml: publish {len(missing)} report file{'s' if len(missing) != 1 else ''}"
                self.forge.commit_files(self.branch, {a.name: sha for a, sha in zip(missing, shas)}, message, tip)
            except ForgeRequestError as error:
                # Another job may have moved or created the branch first: build again on its new head.
                refused = (head_sha, error)
                continue
            break
        else:
            raise ForgeError(f"GitHub: branch {self.branch} kept changing while publishing; rerun the job")
        return {asset.name: self.url_of(asset.name) for asset in assets}
