"""The errors every forge adapter raises, whatever client library it uses underneath.

Commands only ever see these; each says what to do about it in one line.
"""

from __future__ import annotations

from cml.errors import CmlError


class ForgeError(CmlError):
    """A forge API call failed."""


class ForgeAuthError(ForgeError):
    """The forge rejected the token (HTTP 401)."""


class ForgePermissionError(ForgeError):
    """The token is valid but not allowed to do this (HTTP 403)."""


class ForgeNotFoundError(ForgeError):
    """The repository, pull request, issue or commit does not exist, or the token cannot see it (HTTP 404)."""


class ForgeRequestError(ForgeError):
    """The forge refused the request as invalid (HTTP 400/409/422)."""


class ForgeRateLimitError(ForgeError):
    """Still rate limited after waiting as long as the retry policy allows."""


class ForgeUnavailableError(ForgeError):
    """Server errors, time-outs or broken connections persisted through every retry."""


class ForgeConfigurationError(ForgeError):
    """cml cannot tell which forge, repository or token to use."""


class UnsupportedOperationError(ForgeError):
    """The forge has no API for this operation."""


class ForgeOutcomeUnknownError(ForgeError):
    """A request that creates something got no readable answer: it may or may not have taken effect.

    ``failure`` is the transport's :class:`~cml.http.HttpFailure` when there was one (``None`` when the
    answer came but did not prove the creation), with the ``forge`` and ``action`` it happened in.
    """

    def __init__(self, message: str, failure=None, forge: str = "", action: str = ""):
        super().__init__(message)
        self.failure, self.forge, self.action = failure, forge, action
