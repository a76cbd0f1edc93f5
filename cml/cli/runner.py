"""``cml runner launch|list|stop``: cloud machines that serve as self-hosted runners, and cleaning them up.

``cml runner --cloud aws …`` (no subcommand) is ``cml runner launch``, as in iterative/cml.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from cml.cli.app import Application
from cml.cli.forge_options import forge_options, open_forge_from_options
from cml.cli.options import CmlCommand, DefaultCommandGroup, Duration, output_format_option, pass_app
from cml.errors import CmlError, UsageError
from cml.forges.base import Forge
from cml.forges.errors import ForgeConfigurationError
from cml.report.markdown import markdown_table, terminal_table
from cml.runner.backends import BACKENDS, DEFAULT_CLOUD, Cloud, backend_class, cloud_options, option_help, titles
from cml.runner.backends.base import REGION_PARAMETER, CloudBackend
from cml.runner.launch import LaunchOptions, RunnerLauncher, describe_machines, stop_runners
from cml.runner.spec import (
    DEFAULT_SSH_USER,
    MachineSpec,
    Region,
    check_name,
    decode_startup_script,
    parse_labels,
    random_name,
    ssh_public_key,
)

#: iterative/cml also read these for ``cml runner`` (its ``aliasLegacyEnvironmentVariables``).
LEGACY_FORGE_VARIABLES = {"repo": "RUNNER_REPO", "driver": "RUNNER_DRIVER"}
REGION_FLAG = "--cloud-region"

Decorated = TypeVar("Decorated", bound=Callable[..., Any])


class RunnerCommand(CmlCommand):
    """A runner subcommand: its ``--repo`` and ``--driver`` also come from iterative/cml's ``RUNNER_REPO`` and
    ``RUNNER_DRIVER``, after the ``CML_…`` names."""

    def assign_environment_variables(self, ctx: click.Context) -> None:
        """The ``CML_…`` variables, then the legacy ``RUNNER_…`` ones."""
        super().assign_environment_variables(ctx)
        for param in self.params:
            legacy = LEGACY_FORGE_VARIABLES.get(param.name or "")
            if legacy and isinstance(param, click.Option) and param.envvar is not None:
                names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
                if legacy not in names:
                    param.envvar = names + [legacy]


#: The launch options whose meaning each cloud defines (:attr:`CloudBackend.option_help`).
CLOUD_DEPENDENT = (REGION_PARAMETER, "cloud_type", "cloud_gpu", "cloud_hdd_size", "cloud_image", "cloud_permission_set")
CLOUD_DEPENDENT_SUMMARY = "Depends on --cloud: see cml runner launch --cloud NAME --help."


def _cloud_named(args: list[str]) -> str | None:
    """The ``--cloud`` value among the command-line ``args``, if one is there."""
    for index, arg in enumerate(args):
        if arg == "--cloud" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--cloud="):
            return arg.split("=", 1)[1]
    return None


class LaunchCommand(RunnerCommand):
    """``runner launch``: with ``--cloud NAME --help`` its help gives that cloud's meaning of the cloud-dependent
    options and that cloud's own options; without ``--cloud`` it lists them once, briefly, so that every cloud's
    details do not make the help unreadable."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["cml.help_cloud"] = _cloud_named(args)
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        name = ctx.meta.get("cml.help_cloud")
        backend = next((backend for cloud, backend in BACKENDS.items() if cloud.value == name), None)
        own = {option.name for option in backend.options} if backend else set()
        options = [param for param in self.params if isinstance(param, click.Option)]
        saved = [(param.help, param.hidden) for param in options]
        try:  # for this help text only: the reference in docs/ keeps every cloud's details
            for param in options:
                if param.name in CLOUD_DEPENDENT:
                    param.help = (backend.option_help.get(param.name or "", CLOUD_DEPENDENT_SUMMARY) if backend
                                  else CLOUD_DEPENDENT_SUMMARY)
                elif param.name in CLOUD_SPECIFIC:
                    param.hidden = param.name not in own
            super().format_options(ctx, formatter)
        finally:
            for param, (text, hidden) in zip(options, saved):
                param.help, param.hidden = text, hidden


class RunnerGroup(DefaultCommandGroup):
    """``cml runner --cloud aws …`` is ``cml runner launch``."""

    default_command = "launch"
    command_class = RunnerCommand


def _env(flag: str, legacy: bool = False) -> list[str]:
    """The variables an option is read from: ``CML_RUNNER_LAUNCH_X``, ``CML_RUNNER_X`` and iterative's ``RUNNER_X``."""
    names = [f"CML_RUNNER_LAUNCH_{flag}", f"CML_RUNNER_{flag}"]
    return names + [f"RUNNER_{flag}"] if legacy else names


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@click.group(cls=RunnerGroup, name="runner",
             help=f"Self-hosted runners on cloud machines that terminate themselves ({titles()}).")
def command() -> None:
    """The ``cml runner`` group; its help names the clouds the backends reach."""


CLOUDS = click.Choice([cloud.value for cloud in Cloud])
_CLOUD_NAMES = [cloud.value for cloud in BACKENDS]
SUPPORTED = " and ".join(filter(None, (", ".join(_CLOUD_NAMES[:-1]), _CLOUD_NAMES[-1])))
SUPPORTED_HELP = f"only {SUPPORTED} {'has a backend' if len(BACKENDS) == 1 else 'have backends'}"


def cloud_location_options(function: Decorated) -> Decorated:
    """``--cloud`` (default: :data:`DEFAULT_CLOUD`) and ``--cloud-region``, for the commands that find machines."""
    function = click.option(REGION_FLAG, metavar="REGION", help=option_help(REGION_PARAMETER))(function)
    return click.option("--cloud", type=CLOUDS, default=DEFAULT_CLOUD.value, show_default=True,
                        help="Cloud the machines run on.")(function)


#: Every backend's own launch options, by Python name.
CLOUD_SPECIFIC = {option.name for option in cloud_options()}


def cloud_specific_options(function: Decorated) -> Decorated:
    """Every backend's own launch options (``--cloud-aws-subnet`` …), as the backends declare them."""
    for option in reversed(cloud_options()):
        flags = [_flag(option.name), *(_flag(alias) for alias in option.aliases)]
        function = click.option(*flags, option.name, metavar=option.metavar, help=option.help)(function)
    return function


def _region(app: Application, backend: type[CloudBackend], cloud_region: str | None) -> Region:
    """``--cloud-region`` (naming the variable it came from, if any), else the cloud's configured region."""
    context = click.get_current_context()
    source = REGION_FLAG
    if (cloud_region or "").strip() and context.get_parameter_source(REGION_PARAMETER) == ParameterSource.ENVIRONMENT:
        param = next(p for p in context.command.params if p.name == REGION_PARAMETER)
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        source = next((name for name in names if app.environ.get(name)), REGION_FLAG)
    return backend.resolve_region(cloud_region, app.environ, requested_from=source,
                                  parameter=REGION_PARAMETER if source == REGION_FLAG else None)


@command.command(cls=LaunchCommand)
@click.option("--cloud", type=CLOUDS, help=f"Cloud to start the machine on ({SUPPORTED_HELP}).  [required]")
@click.option(REGION_FLAG, metavar="REGION", help=option_help(REGION_PARAMETER))
@click.option("--cloud-type", metavar="TYPE", help=option_help("cloud_type"))
@click.option("--cloud-gpu", metavar="GPU", help=option_help("cloud_gpu"))
@click.option("--cloud-hdd-size", type=click.IntRange(1, 16384), metavar="GB", help=option_help("cloud_hdd_size"))
@click.option("--cloud-image", metavar="IMAGE", help=option_help("cloud_image"))
@click.option("--cloud-spot", is_flag=True, help="Use a spot instance.")
@click.option("--cloud-spot-price", type=float, default=-1, show_default=True, metavar="USD",
              help="Highest hourly spot price; -1 is the market price.")
@click.option("--cloud-spot-fallback", is_flag=True, help="Start on demand when there is no spot capacity.")
@click.option("--cloud-ssh-private", metavar="KEY", help="Private key (PEM) whose public key may log in over SSH.")
@cloud_specific_options
@click.option("--cloud-permission-set", metavar="PROFILE", help=option_help("cloud_permission_set"))
@click.option("--cloud-metadata", multiple=True, metavar="KEY=VALUE", help="Tag for the machine and its disk "
              "(repeatable).")
@click.option("--cloud-startup-script", metavar="BASE64", help="Base64 shell script run at boot, before the runner.")
@click.option("--labels", envvar=_env("LABELS", legacy=True), show_envvar=True, default="cml", show_default=True,
              help="Comma-separated runner labels (GitLab: tags).")
@click.option("--name", envvar=_env("NAME"), show_envvar=True, metavar="NAME",
              help="Runner name  [default: cml-RANDOM]")
@click.option("--replicas", envvar=_env("REPLICAS"), show_envvar=True, type=click.IntRange(1, 100), default=1,
              metavar="N", show_default=True, help="Launch this many runners at once, named NAME-1 … NAME-N when more than one; "
                                      "if any fails, all are removed.")
@click.option("--idle-timeout", envvar=_env("IDLE_TIMEOUT", legacy=True), show_envvar=True,
              type=Duration(allow_never=True), default="5m", show_default=True,
              help="Power off after this long without a job (never: keep it).")
@click.option("--max-runtime", envvar=_env("MAX_RUNTIME"), show_envvar=True, type=Duration(allow_never=True),
              default="3d", show_default=True, help="Power off this long after start, even during a job (never: no cap).")
@click.option("--single", envvar=_env("SINGLE", legacy=True), show_envvar=True, is_flag=True,
              help="Take one job, then power off.")
@click.option("--reuse", envvar=_env("REUSE", legacy=True), show_envvar=True, is_flag=True,
              help="Launch nothing if a runner of this name, or an online one with these labels, exists.")
@click.option("--reuse-idle", envvar=_env("REUSE_IDLE", legacy=True), show_envvar=True, is_flag=True,
              help="Launch nothing if an online, idle runner with these labels exists.")
@click.option("--launch-timeout", envvar=_env("LAUNCH_TIMEOUT"), show_envvar=True, type=Duration(), default="10m",
              show_default=True, help="How long to wait for the runner to come online.")
@click.option("--workdir", "--path", "workdir", envvar=[*_env("WORKDIR"), "CML_RUNNER_PATH", "RUNNER_PATH"], show_envvar=True,
              default="/opt/cml-runner/work", show_default=True, help="Jobs' working folder on the machine.")
@click.option("--no-retry", envvar=_env("NO_RETRY", legacy=True), show_envvar=True, is_flag=True,
              help="Accepted for iterative/cml workflows: cml never re-runs workflows itself.")
@forge_options
@pass_app
def launch(app: Application, cloud: str | None, cloud_region: str | None, cloud_type: str | None,
           cloud_gpu: str | None, cloud_hdd_size: int | None, cloud_image: str | None, cloud_spot: bool,
           cloud_spot_price: float, cloud_spot_fallback: bool, cloud_ssh_private: str | None,
           cloud_permission_set: str | None, cloud_metadata: tuple[str, ...], cloud_startup_script: str | None,
           labels: str, name: str | None, replicas: int, idle_timeout: int, max_runtime: int, single: bool, reuse: bool,
           reuse_idle: bool, launch_timeout: int, workdir: str, no_retry: bool, forge_settings: dict[str, Any],
           **cloud_specific: str | None) -> None:
    """Start a cloud machine that registers as a self-hosted runner of the repository and waits for jobs.

    \b
    Examples:
      cml runner launch --cloud aws --cloud-region us-west --cloud-type g4dn.xlarge --labels cml-gpu
      cml runner launch --cloud aws --cloud-type m+t4 --cloud-spot --single --labels cml-gpu
      cml runner launch --cloud kubernetes --cloud-gpu t4 --replicas 2 --single --labels cml-gpu

    It powers off, which terminates it, after --idle-timeout without a job, after its job with --single, at
    --max-runtime, or on a spot interruption, unregistering the runner first. If anything fails before the
    runner is online, the machine is terminated and the registration removed. Prints the runner's name and
    instance id (and sets the runner-name and instance-id step outputs on GitHub Actions; with --replicas,
    one line per runner and comma-separated outputs). Each cloud's options: --cloud NAME --help.
    """
    backend = backend_class(cloud)
    image = backend.parse_image(cloud_image)
    options = LaunchOptions(
        name=check_name(name or random_name()), labels=parse_labels(labels), idle_timeout=idle_timeout,
        single=single, max_runtime=max_runtime, reuse=reuse, reuse_idle=reuse_idle, launch_timeout=launch_timeout,
        workdir=workdir, replicas=replicas, ssh_user=image.user or DEFAULT_SSH_USER,
        ssh_public_key=ssh_public_key(cloud_ssh_private), user_script=decode_startup_script(cloud_startup_script))
    region = _region(app, backend, cloud_region)
    spec = MachineSpec(
        region=region.name, instance_type=backend.machine_type(cloud_type, cloud_gpu), image=image,
        disk_gb=cloud_hdd_size, spot=cloud_spot, spot_price=cloud_spot_price if cloud_spot_price > 0 else None,
        spot_fallback=cloud_spot_fallback, permission_set=cloud_permission_set,
        tags=backend.parse_tags(cloud_metadata),
        cloud_options=backend.own_options(cloud_specific), max_runtime=max_runtime)
    if not max_runtime:
        app.warn("--max-runtime never: a machine whose runner keeps getting jobs is never stopped by cml")
    _, forge = open_forge_from_options(app, forge_settings)
    launcher = RunnerLauncher(forge, backend(region.name, app.environ, app.warn), app.warn)
    results = launcher.launch_replicas(options, spec)
    first = results[0]
    if first.machine is None:
        state = "busy" if first.runner.busy else "idle"
        app.output(f"reusing runner {first.runner.name} ({state}, labels {','.join(first.runner.labels)})")
        _set_step_outputs(app, {"runner-name": first.runner.name, "instance-id": ""})
        return
    names, ids = [], []
    machines = [(name, result.machine) for name, result in zip(options.replica_names(), results) if result.machine]
    for name, machine in machines:
        market = ", spot" if machine.spot else ""
        app.output(f"runner {name} is online on {machine.id} ({machine.instance_type} in {machine.region}{market})")
        names.append(name)
        ids.append(machine.id)
    _set_step_outputs(app, {"runner-name": ",".join(names), "instance-id": ",".join(ids)})


def _set_step_outputs(app: Application, outputs: dict[str, str]) -> None:
    path = app.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.writelines(f"{key}={value}\n" for key, value in outputs.items())


@command.command(name="list")
@cloud_location_options
@click.option("--all-states", is_flag=True, help="Also show terminated machines the cloud still lists.")
@output_format_option
@pass_app
def list_(app: Application, cloud: str, cloud_region: str | None, all_states: bool, output_format: str) -> None:
    """Show the machines cml runner launched in the region (found by their cml:runner tag).

    \b
    Examples:
      cml runner list
      cml runner list --cloud-region eu-west-1 --json
    """
    backend = backend_class(cloud)
    region = _region(app, backend, cloud_region)
    machines = backend(region.name, app.environ, app.warn).machines(live_only=not all_states)
    app.note(f"searched {region}")
    rows = describe_machines(machines)
    if output_format == "json":
        app.output(json.dumps(rows, indent=2))
    elif not rows:
        app.output(f"no runner machines in {region.name}")
    else:
        headers = list(dict.fromkeys(key for row in rows for key in row))
        cells = [["" if row.get(key) is None else row[key] for key in headers] for row in rows]
        app.output(markdown_table(headers, cells) if output_format == "md" else terminal_table(headers, cells))


class RunnerNotFound(CmlError):
    """``cml runner stop NAME`` found no machine of that name where it looked."""


@command.command()
@click.argument("names", nargs=-1)
@click.option("--all", "stop_all", is_flag=True, help="Stop every machine cml runner launched in the region.")
@click.option("--forget-registration", is_flag=True,
              help="Also remove the runner registration of a NAME that has no machine in the region (a machine "
                   "that is long gone). Without it such a registration is kept, since its machine may be running "
                   "in another region.")
@cloud_location_options
@forge_options
@pass_app
def stop(app: Application, names: tuple[str, ...], stop_all: bool, forget_registration: bool, cloud: str,
         cloud_region: str | None, forge_settings: dict[str, Any]) -> None:
    """Terminate runner machines by name (or --all) and remove their runner registrations.

    \b
    Examples:
      cml runner stop cml-gpu-1 --cloud-region us-west-2
      cml runner stop --all

    Registrations are removed when a forge token is available (as for launch); without one only the
    machines are terminated, and the forge drops their offline runners later. A NAME with no machine in the
    region is an error, and its registration is kept unless --forget-registration is given.
    """
    if bool(names) == stop_all:
        raise UsageError("name the runners to stop, or pass --all (not both)", parameter="stop_all")
    if forget_registration and stop_all:
        raise UsageError("name the runners whose registrations to remove; --all only stops machines it finds",
                         parameter="forget_registration")
    backend_type = backend_class(cloud)
    region = _region(app, backend_type, cloud_region)
    backend = backend_type(region.name, app.environ, app.warn)
    forge: Forge | None
    try:
        _, forge = open_forge_from_options(app, forge_settings)
    except ForgeConfigurationError as error:
        app.warn(f"only terminating machines, not removing runner registrations: {error}")
        forge = None
    result = stop_runners(backend, forge, None if stop_all else list(names), app.warn, forget_registration)
    app.note(f"searched {region}")
    for machine in result.terminated:
        app.output(f"terminated {machine.id} ({machine.name})")
    for machine in result.already_gone:
        app.output(f"{machine.id} ({machine.name}) is already {machine.state}")
    for name in result.removed:
        app.output(f"removed runner registration {name}")
        if name in result.missing:
            app.note(f"no machine named {name} in {region.name}; removed its registration only (--forget-registration)")
    unresolved = [name for name in result.missing if name not in result.removed]
    if unresolved:
        kept = [name for name in unresolved if name in result.kept]
        hint = (f"; kept the runner registration of {', '.join(kept)}: if its machine is gone, remove it with "
                f"--forget-registration" if kept else "")
        raise RunnerNotFound(f"no runner machine named {', '.join(unresolved)} in {region}{hint}; pass "
                             f"--cloud-region if it runs in another region")
    if not result.terminated and not result.already_gone and not result.removed:
        app.output(f"no runner machines in {region.name}")
