"""The application object every command finds on its click context."""

from __future__ import annotations

import os
import sys
from typing import Mapping

import click

from cml.forges.secrets import redact


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

    def note(self, message: str) -> None:
        """Write an informational line to stderr."""
        click.echo(redact(message), err=True)

    def warn(self, message: str) -> None:
        """Write a warning to stderr (a workflow annotation on GitHub Actions)."""
        prefix = "::warning::" if self.environ.get("GITHUB_ACTIONS") else "cml: warning: "
        click.echo(redact(f"{prefix}{message}"), err=True)

    def error(self, message: str) -> None:
        click.echo(redact(f"cml: error: {message}"), err=True)

    def traceback(self) -> None:
        import traceback

        sys.stderr.write(redact(traceback.format_exc()))
