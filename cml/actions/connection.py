"""Which forge an action talks to, and where its warnings and notes go."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Protocol

from cml.ci import RepositoryContext
from cml.forges.base import Forge
from cml.forges.registry import find_token, open_forge, repository_context

#: The logger the actions report to when the caller passes no ``warn``/``note`` callable: warnings reach stderr
#: through logging's last-resort handler even when logging is not configured; notes are ``INFO``.
logger = logging.getLogger("cml")


class Warn(Protocol):
    """Where warnings go; ``file`` and ``line`` place a warning about a report's content (the CLI annotates them
    on GitHub Actions)."""

    def __call__(self, message: str, file: str | None = None, line: int | None = None) -> None: ...


Note = Callable[[str], None]


def log_warning(message: str, file: str | None = None, line: int | None = None) -> None:
    """The default :class:`Warn`: a ``WARNING`` on the ``cml`` logger, prefixed with its place."""
    where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
    logger.warning("%s%s", where, message)


def log_note(message: str) -> None:
    """The default :data:`Note`: an ``INFO`` record on the ``cml`` logger."""
    logger.info("%s", message)


@dataclass
class Connection:
    """A forge repository and the token to use, resolved as the command line resolves ``--repo``, ``--token``,
    ``--driver`` and ``--api-url``: what is not given comes from the CI's variables in ``environ`` (by default
    ``os.environ``), else from the clone's ``origin`` remote, and the token from ``REPO_TOKEN`` and the forge's
    own variables.

    :attr:`context` and :attr:`forge` are resolved on first use and kept, so one connection serves several actions.
    """

    repo: str | None = None
    token: str | None = None
    driver: str | None = None
    api_url: str | None = None
    environ: Mapping[str, str] | None = None
    _context: RepositoryContext | None = field(default=None, init=False, repr=False)
    _forge: Forge | None = field(default=None, init=False, repr=False)

    @property
    def env(self) -> Mapping[str, str]:
        """The environment the connection (and the actions using it) read."""
        return os.environ if self.environ is None else self.environ

    @property
    def context(self) -> RepositoryContext:
        """The repository, commit, pull request and CI run this connection talks about."""
        if self._context is None:
            self._context = repository_context(self.env, self.repo, self.driver, self.api_url)
        return self._context

    @property
    def forge(self) -> Forge:
        """The adapter for :attr:`context`'s forge, with the token (no request is made to open it)."""
        if self._forge is None:
            context = self.context
            self._forge = open_forge(context, find_token(self.token, context.driver, self.env), self.env)
        return self._forge

    def open(self) -> tuple[RepositoryContext, Forge]:
        """``(context, forge)``, resolving both now."""
        return self.context, self.forge
