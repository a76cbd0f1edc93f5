"""The interface every forge adapter implements, and the values it exchanges."""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Callable, ClassVar, Literal, get_args

from cml.ci import RepositoryContext
from cml.forges.errors import ForgeError, ForgeRequestError, UnsupportedOperationError
from cml.http import HttpPolicy, check_api_url, create_once, last_answer_status

#: The longest description a commit (build) status keeps, on every forge that has them.
STATUS_DESCRIPTION_LIMIT = 255
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


TargetKind = Literal["pr", "issue", "commit"]


@dataclass(frozen=True)
class Target:
    """Where a comment goes: ``pr``/``issue`` with a number, or ``commit`` with a sha."""

    kind: TargetKind
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

    # Everything cml knows about a forge is answered here, by its class: no other module compares forge names.

    #: The driver name: ``--driver``'s value and :attr:`RepositoryContext.driver`.
    name: ClassVar[str]
    #: The forge's name as people write it, for messages.
    label: ClassVar[str]
    #: Hosts that run this forge whatever the remote says (its public service).
    well_known_hosts: ClassVar[tuple[str, ...]] = ()
    #: Whether subdomains of :attr:`well_known_hosts` are the same service (``altssh.bitbucket.org``).
    includes_subdomains: ClassVar[bool] = False
    #: The API of the public service on :attr:`well_known_hosts`, if it has one.
    default_api_url: ClassVar[str | None] = None
    #: Where the API lives on a self-hosted server, below its root URL (``/api/v4``).
    api_path: ClassVar[str] = ""
    #: The one web address of the public service, whichever of its hosts a remote names; ``None``: the remote's.
    public_web_url: ClassVar[str | None] = None
    #: The CI variable that gives the API's address.
    api_url_variable: ClassVar[str]
    #: The variable a token for this forge may be kept in, after ``REPO_TOKEN`` (``GITLAB_TOKEN``).
    token_variable: ClassVar[str]
    #: The longest comment body the forge accepts, in characters.
    comment_limit: ClassVar[int]
    #: The longest text a check shows (a check run's summary, or a commit status's description), in characters.
    summary_limit: ClassVar[int]
    #: What the forge calls a pull request, as a title: ``[CML's Pull Request](url)``.
    pull_request_term: ClassVar[str] = "Pull Request"
    #: Whether a pull request opened with ``skip_ci`` says ``[skip ci]`` in its title (the forge's CI reads it there).
    skip_ci_in_title: ClassVar[bool] = False
    #: What :meth:`publish_check` records, in words: ``check run``, ``commit status``…
    check_kind: ClassVar[str]
    #: Whether :meth:`publish_check` shows the report itself (so its images must be published).
    check_shows_report: ClassVar[bool] = False
    #: Where the forge's own storage keeps a report's files, in words.
    publishes_files_to: ClassVar[str]
    #: Whether :meth:`register_runner` and the other runner methods work on this forge.
    registers_runners: ClassVar[bool] = False
    #: Whether commit comments can be edited through the API.
    edits_commit_comments: ClassVar[bool] = True
    #: The names :func:`cml.ci.detect` gives the CI systems that run this forge's jobs.
    ci_names: ClassVar[tuple[str, ...]] = ()
    #: The CI's own job token variable, which git may use but which cannot post reports; ``None``: there is none.
    job_token_variable: ClassVar[str | None] = None
    #: git's user name for the job token.
    job_token_user: ClassVar[str | None] = None
    #: Why the job token cannot post reports, and which token to use instead.
    job_token_advice: ClassVar[str] = ""
    #: Whether the CI's checkout stores its own token as an ``http.<url>.extraheader`` that git would send first.
    checkout_stores_token_header: ClassVar[bool] = False

    @classmethod
    def recognises_host(cls, host: str) -> bool:
        """Whether ``host`` (``name[:port]``) is one of :attr:`well_known_hosts` (or a subdomain, if included)."""
        name = host.split(":")[0].lower()
        return any(name == known or (cls.includes_subdomains and name.endswith("." + known))
                   for known in cls.well_known_hosts)

    @classmethod
    def api_url_for(cls, scheme: str, host: str) -> str:
        """The API base on ``host``: :attr:`default_api_url` on the public service, else ``scheme://host`` and
        :attr:`api_path` (GitHub Enterprise, self-managed GitLab, Gitea)."""
        if cls.default_api_url and cls.recognises_host(host):
            return cls.default_api_url
        return f"{scheme}://{host}{cls.api_path}"

    @classmethod
    def probe_api(cls, scheme: str, host: str, path: str,
                  environ: Mapping[str, str]) -> tuple[str, str, str] | None:
        """``(API URL, web URL, repository path)`` found by asking a self-hosted ``host`` where the forge lives, when
        the remote URL cannot tell; ``None``: the forge is at the host's root."""
        return None

    @classmethod
    def from_ci(cls, environ: Mapping[str, str]) -> RepositoryContext | None:
        """The repository context this forge's CI gives through ``environ``; ``None`` outside it."""
        return None

    @classmethod
    def rerun_target(cls, context: RepositoryContext) -> str | None:
        """The id :meth:`rerun_workflow` takes for the CI run of ``context``."""
        return context.run_id

    @classmethod
    def run_url(cls, context: RepositoryContext) -> str | None:
        """The web page of the CI run of ``context`` that shows its job summary, if the forge has one."""
        return None

    @classmethod
    def open(cls, context: RepositoryContext, token: str, policy: HttpPolicy,
             environ: Mapping[str, str]) -> Forge:
        """The adapter for ``context``'s repository with ``token``."""
        return cls(context.api_url or "", context.repository or "", token, policy)

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


Conclusion = Literal["success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"]
CheckStatus = Literal["queued", "in_progress", "completed"]
CONCLUSIONS: tuple[str, ...] = get_args(Conclusion)
CHECK_STATUSES: tuple[str, ...] = get_args(CheckStatus)


@dataclass(frozen=True)
class Check:
    """A report attached to a commit as a check: GitHub check run, or commit/build status elsewhere."""

    sha: str
    title: str
    report: str
    conclusion: Conclusion = "success"
    details_url: str | None = None
    status: CheckStatus = "completed"  # queued and in_progress have no conclusion yet

    @property
    def passed(self) -> bool:
        return self.conclusion in ("success", "neutral", "skipped")

    def description(self, limit: int = 140) -> str:
        """A one-line description: the report's first non-empty line, without Markdown heading marks."""
        first = next((line.strip().lstrip("#").strip() for line in self.report.splitlines() if line.strip()), "")
        text = first or self.title
        return text if len(text) <= limit else text[: limit - 1] + "…"
