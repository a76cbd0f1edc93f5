"""The interface every forge adapter implements, and the values it exchanges."""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from typing import Callable, ClassVar

from cml.forges.errors import ForgeError, ForgeRequestError, UnsupportedOperationError
from cml.http import HttpPolicy, check_api_url, create_once, last_answer_status

#: What reading a forge answer of an unexpected shape raises (a missing key, a list for a dict, text for JSON…).
MALFORMED_ANSWER_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _reads_answers(method: Callable, operation: str) -> Callable:
    """``method`` with answers of an unexpected shape reported as the forge's one-line error."""

    @functools.wraps(method)
    def reading(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except MALFORMED_ANSWER_ERRORS as error:
            status = last_answer_status()
            answer = f"the answer ({status})" if status else "the answer"
            raise ForgeRequestError(f"{self.label}: {operation}: {answer} is not what {self.label} sends "
                                    f"({type(error).__name__}); check the API URL") from error

    return reading


@dataclass(frozen=True)
class Target:
    """Where a comment goes: ``pr``/``issue`` with a number, or ``commit`` with a sha."""

    kind: str
    ref: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.ref}"


@dataclass(frozen=True)
class Comment:
    """A comment as the forge stores it."""

    id: int
    body: str
    url: str
    author: str | None = None


@dataclass(frozen=True)
class PullRequest:
    """An open pull (merge) request: ``source`` branch into ``target``."""

    number: int
    url: str
    source: str
    target: str


MERGE_METHODS = ("merge", "rebase", "squash")


@dataclass(frozen=True)
class SelfHostedRunner:
    """A runner registered with the forge."""

    id: int
    name: str
    labels: tuple[str, ...]
    online: bool
    busy: bool = False


@dataclass(frozen=True)
class RunnerRegistration:
    """What a machine needs to register one runner, and what to remove if it never does.

    ``variables`` are the startup script's settings (short-lived or single-use material only);
    ``runner_id`` is set when the forge created the runner up front (GitHub just-in-time, GitLab).
    """

    name: str
    url: str
    variables: dict
    runner_id: int | None = None


class Forge(abc.ABC):
    """One forge's API for reports: comments on pull requests, issues and commits, and PR lookup.

    Subclasses differ by class constants and by the endpoints they call; every
    method raises only :mod:`cml.forges.errors` exceptions.
    """

    name: ClassVar[str]
    #: The forge's name as people write it, for messages.
    label: ClassVar[str]
    #: The CI variable that gives the API's address.
    api_url_variable: ClassVar[str]
    #: The longest comment body the forge accepts, in characters.
    comment_limit: ClassVar[int]
    #: Whether commit comments can be edited through the API.
    edits_commit_comments: ClassVar[bool] = True
    #: Whether :meth:`publish_check` shows the report itself (so its images must be published).
    check_shows_report: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if callable(value) and not name.startswith("_") and not isinstance(value, (staticmethod, classmethod, type)):
                setattr(cls, name, _reads_answers(value, name.replace("_", " ")))

    def __init__(self, api_url: str, repository: str, token: str, policy: HttpPolicy | None = None):
        self.api_url = check_api_url(api_url, f"{self.api_url_variable} (or --api-url)").rstrip("/")
        self.repository = repository
        self.token = token
        self.policy = policy or HttpPolicy()
        self._viewer_lookup: tuple[str | None] | None = None

    @abc.abstractmethod
    def comments(self, target: Target) -> list[Comment]:
        """Every comment on ``target``, oldest first, across all pages."""

    @abc.abstractmethod
    def create_comment(self, target: Target, body: str) -> Comment:
        """Post a new comment on ``target``."""

    @abc.abstractmethod
    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        """Replace the body of ``comment``."""

    @abc.abstractmethod
    def delete_comment(self, target: Target, comment: Comment) -> None:
        """Delete ``comment``."""

    @abc.abstractmethod
    def pull_requests_for_commit(self, sha: str) -> list[int]:
        """Numbers of the open pull requests that contain ``sha``, most recent first."""

    def viewer(self) -> str | None:
        """The login comments posted with this token carry, if the forge can tell; ``None`` otherwise."""
        return None

    def _remembered_viewer(self, lookup: Callable[[], str | None]) -> str | None:
        """Run ``lookup`` once; a token that may not read its own user matches any author (``None``)."""
        if self._viewer_lookup is None:
            try:
                self._viewer_lookup = (lookup(),)
            except ForgeError:
                self._viewer_lookup = (None,)
        return self._viewer_lookup[0]

    #: The user name sent with the token for git over HTTPS (Basic authentication).
    git_username: ClassVar[str] = "x-access-token"

    @classmethod
    def credentials_for(cls, token: str) -> tuple[str, str]:
        """``(user, password)`` that this forge's git server takes with ``token`` over HTTPS."""
        return cls.git_username, token

    def git_credentials(self) -> tuple[str, str]:
        """``(user, password)`` for git over HTTPS with this adapter's token."""
        return self.credentials_for(self.token)

    @abc.abstractmethod
    def find_pull_request(self, source: str, target: str) -> PullRequest | None:
        """The open (else merged) pull request from branch ``source`` into ``target``, if there is one."""

    @abc.abstractmethod
    def create_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """Open a pull request from ``source`` into ``target``."""

    def open_pull_request(self, source: str, target: str, title: str, body: str) -> PullRequest:
        """:meth:`create_pull_request`; when the answer to it is lost, the pull request it may have opened is
        looked up (:meth:`find_pull_request`) before trying again."""
        return create_once(lambda: self.create_pull_request(source, target, title, body),
                           lambda: self.find_pull_request(source, target), self.policy)

    @abc.abstractmethod
    def merge_pull_request(self, pull: PullRequest, method: str) -> str:
        """Turn on auto-merge with ``method`` (merge, rebase, squash), or merge now where the forge
        has no auto-merge; returns ``"auto-merge"`` or ``"merged"``."""

    @abc.abstractmethod
    def publish_check(self, check: Check) -> str:
        """Record ``check`` on its commit (a check run, or the forge's commit status); returns a URL."""

    def rerun_workflow(self, run_id: str, poll_interval: float = 2.0, timeout: float = 300.0) -> str:
        """Re-run the CI run (workflow run, pipeline) ``run_id``, cancelling it first if the forge needs that;
        returns the run's URL. ``poll_interval`` and ``timeout`` bound waiting for a cancelled run to stop.

        The default: the forge has no API for it (:class:`UnsupportedOperationError`).
        """
        raise UnsupportedOperationError(f"{self.name} cannot re-run a CI run through its API; re-run it from the web UI")

    def register_runner(self, name: str, labels: tuple[str, ...], ephemeral: bool,
                        architecture: str = "x86_64") -> RunnerRegistration:
        """Create the material a machine registers runner ``name`` with; ``ephemeral`` runners take one job."""
        raise UnsupportedOperationError(f"cml runner supports GitHub and GitLab; {self.name} has no runner "
                                        f"registration API cml can use")

    def runners(self, name: str | None = None) -> list[SelfHostedRunner]:
        """The self-hosted runners of the repository (named ``name``, if given)."""
        raise UnsupportedOperationError(f"cml runner supports GitHub and GitLab, not {self.name}")

    def runner(self, runner_id: int) -> SelfHostedRunner | None:
        """One runner by id, or ``None`` if it no longer exists."""
        raise UnsupportedOperationError(f"cml runner supports GitHub and GitLab, not {self.name}")

    def delete_runner(self, runner_id: int) -> None:
        """Remove a runner's registration; a runner that no longer exists is not an error."""
        raise UnsupportedOperationError(f"cml runner supports GitHub and GitLab, not {self.name}")


CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")
CHECK_STATUSES = ("queued", "in_progress", "completed")


@dataclass(frozen=True)
class Check:
    """A report attached to a commit as a check: GitHub check run, or commit/build status elsewhere."""

    sha: str
    title: str
    report: str
    conclusion: str = "success"
    details_url: str | None = None
    status: str = "completed"  # queued and in_progress have no conclusion yet

    @property
    def passed(self) -> bool:
        return self.conclusion in ("success", "neutral", "skipped")

    def description(self, limit: int = 140) -> str:
        """A one-line description: the report's first non-empty line, without Markdown heading marks."""
        first = next((line.strip().lstrip("#").strip() for line in self.report.splitlines() if line.strip()), "")
        text = first or self.title
        return text if len(text) <= limit else text[: limit - 1] + "…"
