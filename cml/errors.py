"""The one error hierarchy of cml.

Every error a user can cause or fix derives from :class:`CmlError`; the command
line prints its message on one line and exits with :attr:`CmlError.exit_code`.
"""

from __future__ import annotations

import os


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
