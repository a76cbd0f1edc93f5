"""``cml runner launch|list|stop``: cloud machines that serve as self-hosted runners, and cleaning them up.

``cml runner --cloud aws …`` (no subcommand) is ``cml runner launch``, as in iterative/cml.
"""

from __future__ import annotations

import json

import click

from cml.cli.app import Application
from cml.cli.options import (
    CmlCommand,
    DefaultCommandGroup,
    Duration,
    forge_options,
    open_forge_from_options,
    output_format_option,
    pass_app,
)
from cml.errors import CmlError, UsageError

#: iterative/cml also read these for ``cml runner`` (its ``aliasLegacyEnvironmentVariables``).
LEGACY_FORGE_VARIABLES = {"repo": "RUNNER_REPO", "driver": "RUNNER_DRIVER"}


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


class RunnerGroup(DefaultCommandGroup):
    """``cml runner --cloud aws …`` is ``cml runner launch``."""

    default_command = "launch"
    command_class = RunnerCommand


def _env(flag: str, legacy: bool = False) -> list[str]:
    """The variables an option is read from: ``CML_RUNNER_LAUNCH_X``, ``CML_RUNNER_X`` and iterative's ``RUNNER_X``."""
    names = [f"CML_RUNNER_LAUNCH_{flag}", f"CML_RUNNER_{flag}"]
    return names + [f"RUNNER_{flag}"] if legacy else names


@click.group(cls=RunnerGroup, name="runner")
def command() -> None:
    """Self-hosted runners on cloud machines that terminate themselves (AWS EC2)."""


CLOUDS = click.Choice(["aws", "azure", "gcp", "kubernetes"])
REGION_HELP = ("AWS region, or us-east, us-west, eu-west, eu-north  [default: AWS_REGION, AWS_DEFAULT_REGION, "
               "the AWS profile's region, else us-west]")


def cloud_location_options(function):
    """``--cloud`` (default aws) and ``--cloud-region``, for the commands that find machines."""
    function = click.option("--cloud-region", metavar="REGION", help=REGION_HELP)(function)
    return click.option("--cloud", type=CLOUDS, default="aws", show_default=True,
                        help="Cloud the machines run on.")(function)


def _region(app: Application, cloud_region: str | None):
    """``--cloud-region`` (naming the variable it came from, if any), else boto3's region, else us-west."""
    from click.core import ParameterSource

    from cml.runner.spec import Region, choose_region, resolve_region

    context = click.get_current_context()
    if (cloud_region or "").strip() and context.get_parameter_source("cloud_region") == ParameterSource.ENVIRONMENT:
        param = next(p for p in context.command.params if p.name == "cloud_region")
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        source = next((name for name in names if app.environ.get(name)), "--cloud-region")
        return Region(resolve_region(cloud_region, source), source)
    return choose_region(cloud_region, app.environ)


def _backend(app: Application, cloud: str, region):
    from cml.runner.backends import open_backend

    return open_backend(cloud, region.name, app.environ, app.warn)


@command.command()
@click.option("--cloud", type=CLOUDS, help="Cloud to start the machine on (only aws has a backend).  [required]")
@click.option("--cloud-region", metavar="REGION", help=REGION_HELP)
@click.option("--cloud-type", metavar="TYPE", help="Instance type (g4dn.xlarge), or a size m, l, xl (optionally "
              "+GPU: m+t4)  [default: m]")
@click.option("--cloud-gpu", metavar="GPU", help="GPU for a size: t4, a10g, l4, l40s, v100, a100, h100, k80, or nogpu.")
@click.option("--cloud-hdd-size", type=click.IntRange(1, 16384), metavar="GB",
              help="Root disk size  [default: the image's, at least 35]")
@click.option("--cloud-image", metavar="IMAGE", help="ami-ID, or [user@]owner:architecture:name-pattern (newest "
              "match)  [default: AWS's Deep Learning Base GPU AMI, Ubuntu 24.04]")
@click.option("--cloud-spot", is_flag=True, help="Use a spot instance.")
@click.option("--cloud-spot-price", type=float, default=-1, show_default=True, metavar="USD",
              help="Highest hourly spot price; -1 is the market price.")
@click.option("--cloud-spot-fallback", is_flag=True, help="Start on demand when there is no spot capacity.")
@click.option("--cloud-ssh-private", metavar="KEY", help="Private key (PEM) whose public key may log in over SSH.")
@click.option("--cloud-aws-key-name", metavar="NAME", help="Existing EC2 key pair to put on the machine.")
@click.option("--cloud-aws-security-group", metavar="ID|NAME", help="Security group  [default: the VPC's default]")
@click.option("--cloud-aws-subnet", "--cloud-aws-subnet-id", "cloud_aws_subnet", metavar="ID", help="Subnet.")
@click.option("--cloud-permission-set", metavar="PROFILE", help="Instance profile (ARN or name) for the machine.")
@click.option("--cloud-metadata", multiple=True, metavar="KEY=VALUE", help="Tag for the machine and its disk "
              "(repeatable).")
@click.option("--cloud-startup-script", metavar="BASE64", help="Base64 shell script run at boot, before the runner.")
@click.option("--labels", envvar=_env("LABELS", legacy=True), show_envvar=True, default="cml", show_default=True,
              help="Comma-separated runner labels (GitLab: tags).")
@click.option("--name", envvar=_env("NAME"), show_envvar=True, metavar="NAME",
              help="Runner name  [default: cml-RANDOM]")
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
def launch(app: Application, cloud, cloud_region, cloud_type, cloud_gpu, cloud_hdd_size, cloud_image, cloud_spot,
           cloud_spot_price, cloud_spot_fallback, cloud_ssh_private, cloud_aws_key_name, cloud_aws_security_group,
           cloud_aws_subnet, cloud_permission_set, cloud_metadata, cloud_startup_script, labels, name, idle_timeout,
           max_runtime, single, reuse, reuse_idle, launch_timeout, workdir, no_retry, forge_settings) -> None:
    """Start a cloud machine that registers as a self-hosted runner of the repository and waits for jobs.

    \b
    Examples:
      cml runner launch --cloud aws --cloud-region us-west --cloud-type g4dn.xlarge --labels cml-gpu
      cml runner launch --cloud aws --cloud-type m+t4 --cloud-spot --single --labels cml-gpu

    It powers off, which terminates it, after --idle-timeout without a job, after its job with --single, at
    --max-runtime, or on a spot interruption, unregistering the runner first. If anything fails before the
    runner is online, the machine is terminated and the registration removed. Prints the runner's name and
    instance id (and sets the runner-name and instance-id step outputs on GitHub Actions).
    """
    from cml.runner.launch import LaunchOptions, RunnerLauncher
    from cml.runner.spec import (
        ImageRef,
        MachineSpec,
        check_name,
        decode_startup_script,
        parse_labels,
        parse_metadata,
        random_name,
        resolve_instance_type,
        ssh_public_key,
    )

    if cloud is None:
        raise UsageError("required: cml runner starts runners on cloud machines (--cloud aws); to serve jobs from "
                         "this machine, install the forge's own runner here instead", parameter="--cloud")
    if single and (reuse or reuse_idle):
        raise UsageError("--single cannot be combined with --reuse or --reuse-idle", parameter="--single")
    image = ImageRef.parse(cloud_image)
    region = _region(app, cloud_region)
    spec = MachineSpec(
        region=region.name, instance_type=resolve_instance_type(cloud_type, cloud_gpu), image=image,
        disk_gb=cloud_hdd_size, spot=cloud_spot, spot_price=cloud_spot_price if cloud_spot_price > 0 else None,
        spot_fallback=cloud_spot_fallback, security_group=cloud_aws_security_group, subnet=cloud_aws_subnet,
        instance_profile=cloud_permission_set, key_name=cloud_aws_key_name, tags=parse_metadata(cloud_metadata))
    options = LaunchOptions(
        name=check_name(name or random_name()), labels=parse_labels(labels), idle_timeout=idle_timeout,
        single=single, max_runtime=max_runtime, reuse=reuse, reuse_idle=reuse_idle, launch_timeout=launch_timeout,
        workdir=workdir, ssh_user=image.user or "ubuntu", ssh_public_key=ssh_public_key(cloud_ssh_private),
        user_script=decode_startup_script(cloud_startup_script))
    if not max_runtime:
        app.warn("--max-runtime never: a machine whose runner keeps getting jobs is never stopped by cml")
    _, forge = open_forge_from_options(app, forge_settings)
    backend = _backend(app, cloud, region)
    result = RunnerLauncher(forge, backend, app.warn).launch(options, spec)
    if result.reused:
        state = "busy" if result.runner.busy else "idle"
        app.output(f"reusing runner {result.runner.name} ({state}, labels {','.join(result.runner.labels)})")
        _set_step_outputs(app, {"runner-name": result.runner.name, "instance-id": ""})
        return
    machine = result.machine
    market = ", spot" if machine.spot else ""
    app.output(f"runner {options.name} is online on {machine.id} ({machine.instance_type} in {machine.region}{market})")
    _set_step_outputs(app, {"runner-name": options.name, "instance-id": machine.id})


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
def list_(app: Application, cloud, cloud_region, all_states, output_format) -> None:
    """Show the machines cml runner launched in the region (found by their cml:runner tag).

    \b
    Examples:
      cml runner list
      cml runner list --cloud-region eu-west-1 --json
    """
    from cml.runner.launch import describe_machines

    region = _region(app, cloud_region)
    machines = _backend(app, cloud, region).machines(live_only=not all_states)
    app.note(f"searched {region}")
    rows = describe_machines(machines)
    if output_format == "json":
        app.output(json.dumps(rows, indent=2))
    elif not rows:
        app.output(f"no runner machines in {region.name}")
    else:
        from tabulate import tabulate

        app.output(tabulate(rows, headers="keys", tablefmt="github" if output_format == "md" else "simple"))


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
def stop(app: Application, names, stop_all, forget_registration, cloud, cloud_region, forge_settings) -> None:
    """Terminate runner machines by name (or --all) and remove their runner registrations.

    \b
    Examples:
      cml runner stop cml-gpu-1 --cloud-region us-west-2
      cml runner stop --all

    Registrations are removed when a forge token is available (as for launch); without one only the
    machines are terminated, and the forge drops their offline runners later. A NAME with no machine in the
    region is an error, and its registration is kept unless --forget-registration is given.
    """
    from cml.forges.errors import ForgeConfigurationError
    from cml.runner.launch import stop_runners

    if bool(names) == stop_all:
        raise UsageError("name the runners to stop, or pass --all (not both)", parameter="--all")
    if forget_registration and stop_all:
        raise UsageError("name the runners whose registrations to remove; --all only stops machines it finds",
                         parameter="--forget-registration")
    region = _region(app, cloud_region)
    backend = _backend(app, cloud, region)
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
