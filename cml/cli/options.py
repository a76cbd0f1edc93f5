"""Option decorators shared by several commands, and the command classes that add ``-v``."""

from __future__ import annotations

import functools
import os
import re
import sys

import click

from cml.cli.app import Application
from cml.errors import UsageError

FORMATS = ("md", "json", "table")
GLOBAL_ENVIRONMENT_OPTIONS = {"REPO", "TOKEN", "DRIVER_TOKEN", "DRIVER", "API_URL", "STRICT"}
LOG_LEVELS = ("error", "warn", "info", "debug")


def _set_verbose(ctx: click.Context, _param, value: bool) -> None:
    if value:
        ctx.ensure_object(Application).verbose = True


def _set_log(ctx: click.Context, _param, value: str | None) -> None:
    if value == "debug":
        ctx.ensure_object(Application).verbose = True


def verbose_option(**kwargs) -> click.Option:
    """``-v/--verbose``: tracebacks and details on errors."""
    return click.Option(
        ["-v", "--verbose"], is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
        help="Show tracebacks and details on errors.", **kwargs,
    )


def log_option(**kwargs) -> click.Option:
    """``--log error|warn|info|debug`` (iterative/cml's global option); ``debug`` is ``-v``."""
    kwargs.setdefault("help", "Log level: error, warn, info or debug (debug = -v).")
    return click.Option(["--log"], type=click.Choice(LOG_LEVELS), metavar="LEVEL", expose_value=False, is_eager=True,
                        callback=_set_log, **kwargs)


def _ignored_forge_options() -> list[click.Option]:
    """iterative/cml's global ``--repo``, ``--token``/``--driver-token`` and ``--driver``, for the commands that do
    not talk to a forge: accepted (hidden) so its run-lines keep working, and unused."""
    help_text = "Accepted for iterative/cml workflows; this command does not use it."
    return [click.Option([*flags], expose_value=False, hidden=True, allow_from_autoenv=False, help=help_text)
            for flags in (("--repo",), ("--token", "--driver-token"), ("--driver",))]


def add_global_options(params: list[click.Parameter], forge: bool = False) -> None:
    """Append ``--log`` and ``-v`` (and with ``forge`` the hidden forge options) where ``params`` lacks them, so
    that iterative/cml's global options work after the subcommand as well as before it."""
    present = {flag for param in params for flag in param.opts}
    if "--log" not in present:
        params.append(log_option(allow_from_autoenv=False))
    if not present & {"-v", "--verbose"}:
        params.append(verbose_option(allow_from_autoenv=False))
    if forge:
        params.extend(option for option in _ignored_forge_options() if not present & set(option.opts))


def terminal_columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` gives it (``COLUMNS``, else stdout's terminal,
    else 80), without importing :mod:`shutil`, which loads bz2, lzma and zlib: a fifth of what ``cml --help`` costs
    beyond importing click."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(click.HelpFormatter):
    """click's help formatter, as wide as click makes it, measured by :func:`terminal_columns`."""

    def __init__(self, indent_increment: int = 2, width: int | None = None, max_width: int | None = None) -> None:
        if width is None and click.formatting.FORCED_WIDTH is None:
            width = max(min(terminal_columns(), max_width or 80) - 2, 50)
        super().__init__(indent_increment, width, max_width)


class CmlContext(click.Context):
    """The context of cml's commands: help laid out by :class:`HelpFormatter`."""

    formatter_class = HelpFormatter


def _env_flag(flag: str) -> str:
    return flag.lstrip("-").upper().replace("-", "_")


class CmlCommand(click.Command):
    """A command that accepts the global ``--log`` and ``-v`` and reads every option from the environment.

    An option ``--NAME`` of ``cml comment create`` is read from ``CML_COMMENT_CREATE_NAME``, ``CML_COMMENT_NAME``
    and ``CML_SEND_COMMENT_NAME`` (iterative/cml's legacy command): :attr:`environment_prefixes`, which
    :mod:`cml.cli.main` sets for every command, whichever name invoked it. ``--help`` lists them once.
    """

    context_class = CmlContext
    #: ``CML_…`` prefixes, most specific first; when unset they come from the invoking context.
    environment_prefixes: tuple[str, ...] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._automatic = {param.name for param in self.params
                           if isinstance(param, click.Option) and param.allow_from_autoenv and param.envvar is None}
        add_global_options(self.params, forge=True)
        for param in self.params:
            if isinstance(param, click.Option):
                param.show_envvar = False  # listed once, by format_epilog

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self.assign_environment_variables(ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UsageError as error:
            flag = self.flag_for(error.parameter)
            if flag is None:
                raise
            raise error.naming(flag) from error.__cause__

    def flag_for(self, parameter: str | None) -> str | None:
        """The option (``--max-rows``) or argument (``FILE``) of this command that a library error's Python
        ``parameter`` (``max_rows``) came from; ``None`` when it is not one of this command's."""
        for param in self.params:
            if parameter is not None and param.name == parameter and not getattr(param, "hidden", False):
                if isinstance(param, click.Option):
                    return next((o for o in param.opts if o.startswith("--")), param.opts[0])
                return param.human_readable_name
        return None

    def prefixes(self, ctx: click.Context) -> tuple[str, ...]:
        """The ``CML_…`` prefixes of this command's variables."""
        if self.environment_prefixes:
            return self.environment_prefixes
        own = ctx.auto_envvar_prefix or f"CML_{_env_flag(ctx.info_name or self.name or '')}"
        group = ctx.parent.auto_envvar_prefix if ctx.parent else None
        return (own, group) if group and group != "CML" else (own,)

    def assign_environment_variables(self, ctx: click.Context) -> None:
        """Give every option without an explicit ``envvar`` its ``CML_…`` variables."""
        prefixes = self.prefixes(ctx)
        for param in self.params:
            if isinstance(param, click.Option) and param.name in self._automatic:
                flags = [_env_flag(o) for o in param.opts if o.startswith("--")] or [param.name.upper()]
                names = [f"{prefix}_{flag}" for prefix in prefixes for flag in flags]
                names += [f"CML_{flag}" for flag in flags if flag in GLOBAL_ENVIRONMENT_OPTIONS]
                param.envvar = list(dict.fromkeys(names))

    def environment_help(self, ctx: click.Context) -> str:
        """One paragraph naming the variables every option is read from."""
        self.assign_environment_variables(ctx)
        prefixes = self.prefixes(ctx)
        patterns = [f"{prefix}_NAME" for prefix in prefixes]
        listed = ", ".join(patterns[:-1]) + f" or {patterns[-1]}" if len(patterns) > 1 else patterns[0]
        extras = []
        for param in self.params:
            if not isinstance(param, click.Option) or param.hidden or not param.envvar:
                continue
            names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
            flags = [_env_flag(o) for o in param.opts if o.startswith("--")]
            other = [n for n in names if not any(n == f"{prefix}_{flag}" for prefix in prefixes for flag in flags)]
            if other:
                extras.append(f"{next(iter(param.opts))} from {' or '.join(other)}")
        text = f"Every option --NAME is also read from {listed} (NAME in capitals, - as _)."
        return text + (f" Also: {'; '.join(extras)}." if extras else "")

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        import textwrap  # only for --help

        super().format_epilog(ctx, formatter)
        with formatter.section("Environment"):
            indent = " " * formatter.current_indent
            width = max(formatter.width - formatter.current_indent, 40)
            formatter.write(textwrap.fill(self.environment_help(ctx), width + len(indent), initial_indent=indent,
                                          subsequent_indent=indent, break_on_hyphens=False) + "\n")


class CmlGroup(click.Group):
    """A group whose subcommands are :class:`CmlCommand` and :class:`CmlGroup`; it accepts ``--log`` and ``-v``."""

    context_class = CmlContext
    command_class = CmlCommand
    group_class = type

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        add_global_options(self.params)


class DefaultCommandGroup(CmlGroup):
    """A group that runs ``default_command`` when called without one of its subcommands, as iterative/cml's
    ``cml runner --cloud aws …`` (launch) and ``cml pr FILE…`` (create) did."""

    default_command: str = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = 0  # global options before the subcommand (cml pr --log debug create) belong to the group
        while first < len(args) and (args[first] in ("-v", "--verbose") or args[first].startswith("--log=")
                                     or (args[first] == "--log" and first + 1 < len(args))):
            first += 2 if args[first] == "--log" else 1
        if first < len(args) and args[first] not in self.commands and args[first] not in ("-h", "--help"):
            args = [*args[:first], self.default_command, *args[first:]]
        return super().parse_args(ctx, args)


def precision_option(default: int):
    return click.option(
        "--precision", type=click.IntRange(0, 15), default=default, show_default=True,
        help="Decimal places for numbers.",
    )


def output_format_option(function):
    """``--format md|json|table`` with ``--md`` and ``--json`` as shorthands.

    The default is Markdown when ``CI`` is set and a terminal table otherwise; the
    command receives one ``output_format`` keyword.
    """

    @click.option("--format", "output_format", type=click.Choice(FORMATS), default=None,
                  help="Output format  [default: md when CI is set, else table]")
    @click.option("--md", "as_md", is_flag=True, help="Same as --format md.")
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @functools.wraps(function)
    def wrapper(*args, output_format, as_md, as_json, **kwargs):
        if as_md and as_json:
            raise click.UsageError("--md and --json cannot be used together")
        if as_md:
            output_format = "md"
        elif as_json:
            output_format = "json"
        elif output_format is None:
            output_format = click.get_current_context().ensure_object(Application).default_format()
        return function(*args, output_format=output_format, **kwargs)

    return wrapper


def split_values(values) -> tuple[str, ...]:
    """Flatten repeated and comma-separated option values: ``-y a,b -y c`` → ``(a, b, c)``."""
    return tuple(part.strip() for value in values or () for part in value.split(",") if part.strip())


def output_option(default: str):
    return click.option("-o", "--output", default=default, show_default=True,
                        help="Image file to write (.png, .svg or .pdf).")


def title_option(default: str):
    return click.option("--title", default=default, show_default=True, help="Plot title, also the image's alt text.")


pass_app = click.make_pass_decorator(Application, ensure=True)


class Duration(click.ParamType):
    """Seconds, or numbers with units: ``90``, ``5m``, ``1h30m``, ``5min``, ``2 days``.

    With ``allow_never``, ``never`` (and, as in iterative/cml, ``0`` or a negative number) means
    no limit and converts to 0.
    """

    name = "duration"
    UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
             "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400,
             "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
    PART = r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)"  # compiled (and cached by re) on first use, not at start-up

    def __init__(self, allow_never: bool = False):
        self.allow_never = allow_never

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if self.allow_never and (text == "never" or re.fullmatch(r"-\d+|0+", text)):
            return 0
        seconds, position = 0.0, 0
        for match in re.finditer(self.PART, text):
            if match.start() != position or (match[2] and match[2] not in self.UNITS):
                break
            seconds += float(match[1]) * self.UNITS[match[2] or "s"]
            position = match.end()
        if not text or position != len(text):
            never = ", or never" if self.allow_never else ""
            self.fail(f"'{value}' is not a duration; use seconds or numbers with units like 5m, 1h30m, 7d{never}",
                      param, ctx)
        if seconds <= 0:
            self.fail(f"'{value}' is not a positive duration", param, ctx)
        return int(seconds)
