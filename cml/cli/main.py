"""The ``cml`` root command: option handling, the error contract, and the command groups.

Errors exit 1 with one line on stderr (the traceback only with ``-v``); a failed
quality gate exits 2. Every option can be set from ``CML_<COMMAND>_<OPTION>``.
"""

from __future__ import annotations

import importlib
import sys

import click

from cml import __version__
from cml.cli.app import Application
from cml.cli.options import CmlCommand, CmlGroup, log_option, verbose_option
from cml.errors import CmlError, MissingExtra, QualityGateFailed
from cml.secrets import register_environment_secrets


def _usage_message(error: click.UsageError) -> str:
    command = error.ctx.command_path if error.ctx else "cml"
    return f"{error.format_message()} (see '{command} --help')"


#: iterative/cml's deprecated top-level commands, still in its older documentation and in many workflows.
LEGACY_COMMANDS = {"send-comment": ("comment", "create"), "publish": ("asset", "publish"),
                   "send-github-check": ("check", "create"), "rerun-workflow": ("workflow", "rerun")}
#: The variable prefixes iterative/cml's legacy commands read, by the group that replaced them (``cml ci`` is
#: ``cml repo prepare``); every command of the group reads them, as iterative/cml copied them to the new prefix.
LEGACY_PREFIXES = {"comment": "CML_SEND_COMMENT", "asset": "CML_PUBLISH", "check": "CML_SEND_GITHUB_CHECK",
                   "workflow": "CML_RERUN_WORKFLOW", "repo": "CML_CI"}


#: Every command under ``cml``: its module, the click object in it, and its one-line help. A command's module is
#: imported only when the command runs, so ``cml --help`` and each command start without loading the others
#: (tests/cli/test_main.py checks these summaries against the commands' own help).
COMMANDS = {
    "asset": ("cml.cli.asset", "command", "Publish files where reviewers can see them."),
    "check": ("cml.cli.check", "command", "Attach reports to commits as checks."),
    "ci": ("cml.cli.repo", "ci", "Same as `cml repo prepare` (iterative/cml's name)."),
    "comment": ("cml.cli.comment", "command", "Post reports as pull-request, issue or commit comments."),
    "demo": ("cml.cli.demo", "command",
             "Build a small ML project with git history in DIRECTORY and write its full report (cml report create)."),
    "metrics": ("cml.cli.metrics", "command",
                "Show and compare metrics files (JSON, YAML, TOML, CSV/TSV last row). Files over 32 MiB (CSV/TSV: "
                "256 MiB), nested over 100 levels, with over 100 YAML aliases or over 100,000 keys and values are "
                "refused."),
    "mlflow": ("cml.cli.mlflow", "command",
               "MLflow runs' artifacts (metrics and params: cml metrics/params/plot line --mlflow-run)."),
    "params": ("cml.cli.params", "command",
               "Show and compare parameters (params.yaml and the params files dvc.yaml names). Files over 32 MiB "
               "(CSV/TSV: 256 MiB), nested over 100 levels, with over 100 YAML aliases or over 100,000 keys and "
               "values are refused."),
    "plot": ("cml.cli.plot", "command",
             "Draw confusion matrices, ROC and precision-recall curves, training curves, and dvc.yaml's plots."),
    "pr": ("cml.cli.pr", "command", "Open pull requests with the files a CI job produced."),
    "repo": ("cml.cli.repo", "command", "Prepare the CI's git clone."),
    "report": ("cml.cli.report", "command", "Work with Markdown reports."),
    "runner": ("cml.cli.runner", "command",
               "Self-hosted runners on cloud machines that terminate themselves (AWS EC2, Google Cloud Compute "
               "Engine, Kubernetes)."),
    "table": ("cml.cli.table", "command",
              "Turn a CSV, TSV, JSON (records) or JSON-lines FILE of up to 256 MiB into a Markdown table. HTML in "
              "cells is shown as text, never as markup."),
    "workflow": ("cml.cli.workflow", "command", "Control CI runs."),
}
#: ``cml ci`` reads iterative/cml's variables first, then those of ``cml repo prepare``.
SPECIAL_PREFIXES = {"ci": ("CML_CI", "CML_REPO_PREPARE", "CML_REPO")}


class RootGroup(CmlGroup):
    """The ``cml`` group: it loads each command when it is called, and turns every failure into the one-line
    error contract."""

    def __init__(self, *args, params=None, **kwargs):
        root_options = [log_option(default="info", show_default=True, envvar="CML_LOG", show_envvar=True,
                                   help="Log level: error, warn, info or debug (debug also shows tracebacks, as -v "
                                        "does); accepted after any subcommand too."),
                        verbose_option(envvar="CML_VERBOSE", show_envvar=True)]
        super().__init__(*args, params=[*(params or []), *root_options], **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def load(self, name: str) -> click.Command | None:
        """The command ``name``, its module imported and its variables' prefixes set on first use."""
        if name not in self.commands and name in COMMANDS:
            module, attribute, _ = COMMANDS[name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, name)
            assign_environment_prefixes(command, (_env_name(name),))
            if name in SPECIAL_PREFIXES:
                command.environment_prefixes = SPECIAL_PREFIXES[name]
        return self.commands.get(name)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LEGACY_COMMANDS and name not in COMMANDS:
            group_name, command = LEGACY_COMMANDS[name]
            ctx.ensure_object(Application).warn(f"cml {name} is deprecated; use cml {group_name} {command}")
            group = self.load(group_name)
            return group.get_command(ctx, command) if isinstance(group, click.Group) else None
        return self.load(name)

    def _summary(self, name: str) -> click.Command:
        return self.commands.get(name) or click.Command(name, help=COMMANDS[name][2])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands with their one-line help from :data:`COMMANDS`, without importing them."""
        names = [name for name in self.list_commands(ctx) if name in COMMANDS or not self.commands[name].hidden]
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._summary(name).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        app = extra.setdefault("obj", Application())
        # Before any file is read: a report or linked file carrying one of these is refused, not sent.
        register_environment_secrets(app.environ)
        try:
            result = super().main(args, prog_name or "cml", complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except QualityGateFailed as failure:
            for line in failure.failures:
                app.error(f"quality gate failed: {line}")
            code = failure.exit_code
        except CmlError as error:
            if app.verbose:
                app.traceback()
            app.error(str(error))
            code = error.exit_code
        except click.UsageError as error:
            app.error(_usage_message(error))
            code = 1
        except click.ClickException as error:
            app.error(error.format_message())
            code = 1
        except click.Abort:
            app.error("aborted")
            code = 1
        except BrokenPipeError:
            code = 1
        except ModuleNotFoundError as error:
            if app.verbose:
                app.traceback()
            missing = MissingExtra.from_import_error(error)
            app.error(str(missing) if missing else f"unexpected ModuleNotFoundError: {error} (run with -v for the "
                                                    "traceback)")
            code = 1
        except Exception as error:  # the contract: one line, no traceback unless -v
            if app.verbose:
                app.traceback()
            app.error(f"unexpected {type(error).__name__}: {error} (run with -v for the traceback)")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    name="cml",
    cls=RootGroup,
    context_settings={"auto_envvar_prefix": "CML", "help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="cml", message="%(prog)s %(version)s")
def cli() -> None:
    """Continuous Machine Learning: turn what a CI training job produced into a pull-request report.

    \b
    Examples:
      cml metrics diff --md >> report.md
      cml comment update report.md

    \b
    Metrics and params:  cml metrics show|diff|classification, cml params show|diff
    Tables and plots:    cml table, cml plot confusion|roc|pr|line
    Tracked runs:        --mlflow-run, --mlflow-experiment, --sacred, --dvclive; cml mlflow download
    Reports:             cml report preview, cml comment create|update, cml check create
    CI runs:             cml workflow rerun
    Cloud runners:       cml runner launch|list|stop
    First run:           cml demo
    """


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def assign_environment_prefixes(command: click.Command, path: tuple[str, ...]) -> None:
    """Set :attr:`CmlCommand.environment_prefixes` on ``command`` (at ``path`` below ``cml``) and every command under
    it: ``CML_<GROUP>_<COMMAND>``, ``CML_<GROUP>`` and the legacy command's prefix."""
    if isinstance(command, click.Group):
        for name, subcommand in command.commands.items():
            assign_environment_prefixes(subcommand, (*path, _env_name(name)))
    elif isinstance(command, CmlCommand):
        prefixes = ["CML_" + "_".join(path[:length]) for length in range(len(path), 0, -1)]
        legacy = LEGACY_PREFIXES.get(path[0].lower()) if len(path) > 1 else None
        command.environment_prefixes = tuple(dict.fromkeys(prefixes + ([legacy] if legacy else [])))


def main() -> None:
    """Console-script entry point."""
    cli.main()
