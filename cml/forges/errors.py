"""The errors every forge adapter raises, whatever client library it uses underneath.

Commands only ever see these; each says what to do about it in one line. Each HTTP failure class is also
the matching :class:`~cml.errors.ServiceError` class, so code handling any server's failures catches them too.
"""

from __future__ import annotations

from typing import TypeVar

from cml.errors import (
    CmlError,
    ErrorKinds,
    ServiceAuthError,
    ServiceNotFoundError,
    ServiceOutcomeUnknownError,
    ServicePermissionError,
    ServiceRateLimitError,
    ServiceRequestError,
    ServiceUnavailableError,
)
from cml.http import proven_by

T = TypeVar("T")


class ForgeError(CmlError):
    """A forge API call failed."""


class ForgeAuthError(ForgeError, ServiceAuthError):
    """The forge rejected the token (HTTP 401)."""


class ForgePermissionError(ForgeError, ServicePermissionError):
    """The token is valid but not allowed to do this (HTTP 403)."""


class ForgeNotFoundError(ForgeError, ServiceNotFoundError):
    """The repository, pull request, issue or commit does not exist, or the token cannot see it (HTTP 404)."""


class ForgeRequestError(ForgeError, ServiceRequestError):
    """The forge refused the request as invalid (HTTP 400/409/422)."""


class ForgeRateLimitError(ForgeError, ServiceRateLimitError):
    """Still rate limited after waiting as long as the retry policy allows."""


class ForgeUnavailableError(ForgeError, ServiceUnavailableError):
    """Server errors, time-outs or broken connections persisted through every retry."""


class ForgeConfigurationError(ForgeError):
    """cml cannot tell which forge, repository or token to use."""


class UnsupportedOperationError(ForgeError):
    """The forge has no API for this operation."""


class ForgeOutcomeUnknownError(ForgeError, ServiceOutcomeUnknownError):
    """A request that creates something got no readable answer: it may or may not have taken effect.

    ``failure`` is the transport's :class:`~cml.http.HttpFailure` when there was one (``None`` when the
    answer came but did not prove the creation), with the ``forge`` and ``action`` it happened in.
    """

    @property
    def forge(self) -> str:
        """The forge's label (``GitHub``), as :attr:`service`."""
        return self.service


#: What forge clients raise: every HTTP failure is a :class:`ForgeError`.
FORGE_ERRORS = ErrorKinds(
    auth=ForgeAuthError, permission=ForgePermissionError, not_found=ForgeNotFoundError, request=ForgeRequestError,
    rate_limit=ForgeRateLimitError, unavailable=ForgeUnavailableError, outcome_unknown=ForgeOutcomeUnknownError,
)


def proven(created: T, forge: str, action: str, *fields: str) -> T:
    """``created`` (an object or JSON document a create request answered) when the answer proves the creation:
    every one of ``fields`` is there (``id`` a number); otherwise :class:`ForgeOutcomeUnknownError`."""
    return proven_by(created, forge, action, fields, FORGE_ERRORS)
