"""Option decorators shared by several commands, and the command classes that add ``-v``."""

from __future__ import annotations

import functools
import re
import textwrap

import click

from cml.assets.backends import PublishSettings
from cml.ci import RepositoryContext
from cml.cli.app import Application
from cml.errors import UsageError
from cml.forges.base import Forge
from cml.forges.registry import DRIVERS, TOKEN_VARIABLES, find_token, open_forge, repository_context
from cml.trackers.sources import RunSource

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


def _env_flag(flag: str) -> str:
    return flag.lstrip("-").upper().replace("-", "_")


class CmlCommand(click.Command):
    """A command that accepts the global ``--log`` and ``-v`` and reads every option from the environment.

    An option ``--NAME`` of ``cml comment create`` is read from ``CML_COMMENT_CREATE_NAME``, ``CML_COMMENT_NAME``
    and ``CML_SEND_COMMENT_NAME`` (iterative/cml's legacy command): :attr:`environment_prefixes`, which
    :mod:`cml.cli.main` sets for every command, whichever name invoked it. ``--help`` lists them once.
    """

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
        super().format_epilog(ctx, formatter)
        with formatter.section("Environment"):
            indent = " " * formatter.current_indent
            width = max(formatter.width - formatter.current_indent, 40)
            formatter.write(textwrap.fill(self.environment_help(ctx), width + len(indent), initial_indent=indent,
                                          subsequent_indent=indent, break_on_hyphens=False) + "\n")


class CmlGroup(click.Group):
    """A group whose subcommands are :class:`CmlCommand` and :class:`CmlGroup`; it accepts ``--log`` and ``-v``."""

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


def forge_options(function):
    """``--repo``, ``--token``, ``--driver`` and ``--api-url``, for every command that talks to a forge.

    The command receives them as one ``forge_settings`` mapping for :func:`open_forge_from_options`.
    """

    @click.option("--repo", metavar="URL", help="Repository URL; another repository than the CI's gets none of its pull request or commit, "
                       "so --target must name one  [default: from the CI, else the 'origin' remote]")
    @click.option("--token", "--driver-token", "token", metavar="TOKEN",
                  help=f"API token  [default: {', '.join(TOKEN_VARIABLES)}]")
    @click.option("--driver", type=click.Choice(DRIVERS),
                  help="Forge kind  [default: from the CI or the repository host]")
    @click.option("--api-url", metavar="URL", help="API base URL, for self-hosted forges  [default: from the CI]")
    @functools.wraps(function)
    def wrapper(*args, repo, token, driver, api_url, **kwargs):
        settings = {"repo": repo, "token": token, "driver": driver, "api_url": api_url}
        return function(*args, forge_settings=settings, **kwargs)

    return wrapper


def run_source_options(function):
    """``--mlflow-run``, ``--mlflow-experiment``, ``--mlflow-base-run``, ``--mlflow-tracking-uri``, ``--sacred`` and
    ``--dvclive``; the command receives one ``run_source`` keyword (a :class:`cml.trackers.sources.RunSource`)."""

    @click.option("--mlflow-run", metavar="RUN_ID", help="Read an MLflow run (MLFLOW_TRACKING_URI) instead of files.")
    @click.option("--mlflow-experiment", metavar="NAME",
                  help="Read the MLflow run of this experiment logged from the commit (tag mlflow.source.git.commit).")
    @click.option("--mlflow-base-run", metavar="RUN_ID", help="Compare with this MLflow run instead of the base commit's.")
    @click.option("--mlflow-tracking-uri", metavar="URL", help="MLflow tracking server  [default: MLFLOW_TRACKING_URI]")
    @click.option("--sacred", metavar="DIR", help="Read a Sacred FileStorageObserver run folder instead of files.")
    @click.option("--dvclive", metavar="DIR", help="Read dvclive's output folder instead of files.")
    @functools.wraps(function)
    def wrapper(*args, mlflow_run, mlflow_experiment, mlflow_base_run, mlflow_tracking_uri, sacred, dvclive, **kwargs):
        source = RunSource(mlflow_run, mlflow_experiment, mlflow_base_run, mlflow_tracking_uri, sacred, dvclive)
        return function(*args, run_source=source, **kwargs)

    return wrapper


def open_forge_from_options(app: Application, settings: dict) -> tuple[RepositoryContext, Forge]:
    """The repository context and forge adapter for ``forge_settings`` and the CI environment."""
    context = repository_context(app.environ, settings["repo"], settings["driver"], settings["api_url"])
    token = find_token(settings["token"], context.driver, app.environ)
    return context, open_forge(context, token, app.environ)


class Duration(click.ParamType):
    """Seconds, or numbers with units: ``90``, ``5m``, ``1h30m``, ``5min``, ``2 days``.

    With ``allow_never``, ``never`` (and, as in iterative/cml, ``0`` or a negative number) means
    no limit and converts to 0.
    """

    name = "duration"
    UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60, "minute": 60,
             "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "d": 86400,
             "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
    PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)")

    def __init__(self, allow_never: bool = False):
        self.allow_never = allow_never

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if self.allow_never and (text == "never" or re.fullmatch(r"-\d+|0+", text)):
            return 0
        seconds, position = 0.0, 0
        for match in self.PART.finditer(text):
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


def publish_options(url_flags: tuple[str, ...] = ("--publish-url",), for_report: bool = True):
    """``--publish-url``, ``--native``, ``--publish-branch``, ``--publish-public``, ``--publish-expires``,
    ``--allow-outside``, ``--strict`` and the hidden ``--skip-missing`` (now the default); the command
    receives one ``publish_settings`` keyword (a :class:`cml.assets.backends.PublishSettings`) plus
    ``allow_outside``, ``strict`` and ``skip_missing``. Without ``for_report`` (one file, not a report's links)
    ``--strict`` is hidden: every problem is an error there."""

    def decorate(function):
        @click.option(*url_flags, "publish_url", metavar="URL",
                      help="Publish to s3://BUCKET/PREFIX (or an https:// asset server) instead of the forge's storage.")
        @click.option("--native", "--publish-native", "native", is_flag=True,
                      help="Publish to the forge's own storage (the default; kept for iterative/cml workflows).")
        @click.option("--publish-branch", default="cml-assets", show_default=True, metavar="BRANCH",
                      help="GitHub: the branch that holds published files (needs 'contents: write').")
        @click.option("--publish-public", is_flag=True,
                      help="S3: make files public-read and link them plainly instead of with presigned links.")
        @click.option("--publish-expires", type=Duration(), default="7d", show_default=True, metavar="DURATION",
                      help="S3: how long presigned links work (at most 7d).")
        @click.option("--allow-outside", multiple=True, metavar="FOLDER", type=click.Path(file_okay=False),
                      help="Also publish files from FOLDER (by default only the report's folder and the CI workspace) "
                           "and read the report from it (by default only the current folder and the CI workspace).")
        @click.option("--strict", is_flag=True, hidden=not for_report,
                      help="Fail, posting nothing, when a linked file cannot be published (missing, outside the "
                           "allowed folders, too large, of unknown type, or on GitHub a token without 'contents: "
                           "write'); by default the report is posted with such links left as written (or a note in "
                           "place of the image) and a warning. A file carrying a token always fails.")
        @click.option("--skip-missing", is_flag=True, hidden=True,
                      help="Leave links to missing files as they are (the default; with --strict, only missing files).")
        @functools.wraps(function)
        def wrapper(*args, publish_url, native, publish_branch, publish_public, publish_expires, **kwargs):
            settings = PublishSettings(publish_url, native, publish_branch, publish_public, publish_expires)
            return function(*args, publish_settings=settings, **kwargs)

        return wrapper

    return decorate
