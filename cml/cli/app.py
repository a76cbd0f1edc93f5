"""The application object every command finds on its click context."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import click

from cml.secrets import redact


def _annotation_property(value) -> str:
    """A workflow-command property value, escaped as the Actions toolkit does."""
    return (str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            .replace(":", "%3A").replace(",", "%2C"))


class Application:
    """Terminal I/O, environment and verbosity for one ``cml`` run.

    Results go to stdout (so ``cml … >> report.md`` works); notes and warnings go to
    stderr. Tests inject ``environ`` instead of patching ``os.environ``.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        self._environ = environ
        self.verbose = False

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def in_ci(self) -> bool:
        return bool(self.environ.get("CI"))

    def default_format(self) -> str:
        """Markdown in CI (where output ends up in a report), a readable table in a terminal."""
        return "md" if self.in_ci else "table"

    def output(self, text: str) -> None:
        """Write a result to stdout."""
        click.echo(text)

    def markdown(self, text: str) -> None:
        """Write a Markdown block to stdout, ending with a blank line, so that text appended after it
        (``echo … >> report.md``) starts a new paragraph instead of joining a table or an image line."""
        click.echo(text.rstrip("\n") + "\n")

    def note(self, message: str) -> None:
        """Write an informational line to stderr."""
        click.echo(redact(message), err=True)

    def warn(self, message: str, file: str | None = None, line: int | None = None) -> None:
        """Write a warning to stderr; on GitHub Actions it is a workflow annotation, placed on ``file``
        (and ``line``) when given."""
        if self.environ.get("GITHUB_ACTIONS"):
            place = ",".join(f"{key}={_annotation_property(value)}" for key, value in (("file", file), ("line", line))
                             if value is not None)
            prefix = f"::warning {place}::" if place else "::warning::"
            message = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        else:
            where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
            prefix = f"cml: warning: {where}"
        click.echo(redact(f"{prefix}{message}"), err=True)

    def error(self, message: str) -> None:
        """Write an error line to stderr."""
        click.echo(redact(f"cml: error: {message}"), err=True)

    def traceback(self) -> None:
        """Write the traceback of the error being handled to stderr, tokens redacted."""
        import traceback  # only after an error, with -v

        sys.stderr.write(redact(traceback.format_exc()))
