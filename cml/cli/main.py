"""The ``cml`` root command: option handling, the error contract, and the command groups.

Errors exit 1 with one line on stderr (the traceback only with ``-v``); a failed
quality gate exits 2. Every option can be set from ``CML_<COMMAND>_<OPTION>``.
"""

from __future__ import annotations

import sys

import click

from cml import __version__
from cml.cli import asset, check, comment, demo, metrics, mlflow, params, plot, pr, repo, report, runner, table, workflow
from cml.cli.app import Application
from cml.cli.options import CmlCommand, CmlGroup, log_option, verbose_option
from cml.errors import CmlError, QualityGateFailed
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


class RootGroup(CmlGroup):
    """The ``cml`` group; it turns every failure into the one-line error contract."""

    def __init__(self, *args, params=None, **kwargs):
        root_options = [log_option(default="info", show_default=True, envvar="CML_LOG", show_envvar=True,
                                   help="Log level: error, warn, info or debug (debug also shows tracebacks, as -v "
                                        "does); accepted after any subcommand too."),
                        verbose_option(envvar="CML_VERBOSE", show_envvar=True)]
        super().__init__(*args, params=[*(params or []), *root_options], **kwargs)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LEGACY_COMMANDS and name not in self.commands:
            group_name, command = LEGACY_COMMANDS[name]
            ctx.ensure_object(Application).warn(f"cml {name} is deprecated; use cml {group_name} {command}")
            group = self.commands[group_name]
            return group.get_command(ctx, command) if isinstance(group, click.Group) else None
        return super().get_command(ctx, name)

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


def assign_environment_prefixes(group: click.Group, path: tuple[str, ...] = ()) -> None:
    """Set :attr:`CmlCommand.environment_prefixes` on every command under ``group``: ``CML_<GROUP>_<COMMAND>``,
    ``CML_<GROUP>`` and the legacy command's prefix."""
    for name, command in group.commands.items():
        here = (*path, _env_name(name))
        if isinstance(command, click.Group):
            assign_environment_prefixes(command, here)
        elif isinstance(command, CmlCommand):
            prefixes = ["CML_" + "_".join(here[:length]) for length in range(len(here), 0, -1)]
            legacy = LEGACY_PREFIXES.get(path[0].lower() if path else "")
            command.environment_prefixes = tuple(dict.fromkeys(prefixes + ([legacy] if legacy else [])))


for module in (metrics, params, table, plot, report, mlflow, comment, check, asset, pr, repo, runner, workflow, demo):
    cli.add_command(module.command)
cli.add_command(repo.ci)
assign_environment_prefixes(cli)
repo.ci.environment_prefixes = ("CML_CI", "CML_REPO_PREPARE", "CML_REPO")


def main() -> None:
    """Console-script entry point."""
    cli.main()
