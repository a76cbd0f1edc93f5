"""The one error hierarchy of cml.

Every error a user can cause or fix derives from :class:`CmlError`; the command
line prints its message on one line and exits with :attr:`CmlError.exit_code`.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class CmlError(Exception):
    """An error with a message meant for the user, not a traceback."""

    exit_code = 1


class UsageError(CmlError):
    """A parameter has a value cml cannot use.

    ``parameter`` names it in the caller's terms: the library raises with its Python parameter name
    (``max_rows``), and the command line shows the option the value came from (``--max-rows``,
    :meth:`naming`).
    """

    def __init__(self, message: str, parameter: str | None = None):
        self.parameter = parameter
        self.detail = message
        super().__init__(f"{parameter}: {message}" if parameter else message)

    def naming(self, parameter: str) -> UsageError:
        """The same error, naming ``parameter`` (for example the command-line option) instead."""
        renamed = UsageError(self.detail, parameter)
        renamed.__cause__, renamed.__traceback__ = self.__cause__, self.__traceback__
        return renamed


class InputError(CmlError):
    """An input file is missing, unreadable or malformed.

    The message names the file and, when known, the line (and column) at fault.
    """

    def __init__(self, path, message: str, line: int | None = None, column: int | None = None):
        self.path = os.fspath(path)
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class GitError(CmlError):
    """A git command failed or a revision is not in the clone."""


class QualityGateFailed(CmlError):
    """One or more quality-gate rules failed; the command exits 2.

    :attr:`failures` holds one line per failed metric and rule; ``advice`` (for example how to
    write a report without raising) ends the message but is not one of them.
    """

    exit_code = 2

    def __init__(self, failures: list[str], advice: str | None = None):
        self.failures = list(failures)
        self.advice = advice
        message = "quality gate failed: " + "; ".join(self.failures)
        super().__init__(f"{message}. {advice}" if advice else message)


# -- errors of the services cml talks to over HTTP (forges, MLflow, asset servers) -------------------------------


#: The optional extra of ``cml-ci`` that installs each library a command may need, by top-level module.
EXTRA_OF_MODULE = {"matplotlib": "plots", "PIL": "plots", "sklearn": "demo", "scipy": "demo", "boto3": "aws",
                   "botocore": "aws", "kubernetes": "kubernetes", "google": "gcp"}


class MissingExtra(CmlError):
    """A library of an optional extra (``cml-ci[plots]``…) that this installation lacks."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"this needs {module}, which is not installed: pip install 'cml-ci[{extra}]' "
                         f"(or 'cml-ci[all]' for every feature)")
        self.module, self.extra = module, extra

    @classmethod
    def from_import_error(cls, error: ModuleNotFoundError) -> MissingExtra | None:
        """The error for a failed import of an optional library, or ``None`` for any other module."""
        module = (error.name or "").split(".")[0]
        extra = EXTRA_OF_MODULE.get(module)
        return cls(module, extra) if extra else None


class ServiceError(CmlError):
    """A request to a server (a forge, an MLflow tracking server, an asset server) failed."""


class ServiceAuthError(ServiceError):
    """The server rejected the credentials (HTTP 401)."""


class ServicePermissionError(ServiceError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class ServiceNotFoundError(ServiceError):
    """What the request names does not exist, or the credentials cannot see it (HTTP 404)."""


class ServiceRequestError(ServiceError):
    """The server refused the request as invalid (HTTP 400/409/422 and the like), or cml refused to send it."""


class ServiceRateLimitError(ServiceError):
    """Still rate limited after waiting as long as the retry policy allows."""


class ServiceUnavailableError(ServiceError):
    """Server errors, time-outs or broken connections persisted through every retry."""


class ServiceOutcomeUnknownError(ServiceError):
    """A request that creates something got no readable answer: it may or may not have taken effect.

    ``failure`` is the transport's :class:`~cml.http.HttpFailure` when there was one (``None`` when the
    answer came but did not prove the creation), with the ``service`` and ``action`` it happened in.
    """

    def __init__(self, message: str, failure: object = None, service: str = "", action: str = ""):
        super().__init__(message)
        self.failure, self.service, self.action = failure, service, action


class ErrorKinds(NamedTuple):  # not a dataclass: every command imports this module, most never need dataclasses
    """Which error class the HTTP layer raises for each kind of failure: forge clients get the ``Forge*``
    classes (:data:`cml.forges.errors.FORGE_ERRORS`), other servers the plain ``Service*`` ones."""

    auth: type[ServiceAuthError] = ServiceAuthError
    permission: type[ServicePermissionError] = ServicePermissionError
    not_found: type[ServiceNotFoundError] = ServiceNotFoundError
    request: type[ServiceRequestError] = ServiceRequestError
    rate_limit: type[ServiceRateLimitError] = ServiceRateLimitError
    unavailable: type[ServiceUnavailableError] = ServiceUnavailableError
    outcome_unknown: type[ServiceOutcomeUnknownError] = ServiceOutcomeUnknownError


#: The errors of servers that are not forges (MLflow, asset servers).
SERVICE_ERRORS = ErrorKinds()
