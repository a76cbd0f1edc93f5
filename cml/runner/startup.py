"""The machine's startup script (``startup.sh``) with its settings, packed as cloud-init user data.

The settings are shell assignments placed at the top of the script; every value is
quoted with :func:`shlex.quote`. They hold only short-lived registration material
(GitHub registration/removal tokens or a just-in-time configuration, or the GitLab
runner's own ``glrt-`` token), never the token ``cml`` itself was given.
"""

from __future__ import annotations

import base64
import gzip
import shlex
from dataclasses import dataclass, field
from importlib import resources

from cml.errors import UsageError

GITHUB_RUNNER_RELEASES = "https://github.com/actions/runner/releases"
GITLAB_RUNNER_DOWNLOADS = "https://gitlab-runner-downloads.s3.amazonaws.com/latest/binaries"
DEFAULT_WORKDIR = "/opt/cml-runner/work"


@dataclass(frozen=True)
class MachineHooks:
    """How the startup script ends its machine and learns of a coming interruption, as shell snippets the
    backend provides (``eval``-ed by the script); an empty one keeps the script's default, meant for a VM that
    is terminated when it powers off.

    ``power_off`` runs last, with the reason as ``$1`` (default: ``shutdown -P now``, else ``poweroff``);
    ``safety_net`` runs at start when there is a maximum runtime, with the minutes after which the machine must
    be gone as ``$1`` (default: ``shutdown -P +$1``; ``:`` when the cloud enforces the maximum runtime itself);
    ``spot_notice`` runs every poll on a spot machine and succeeds once an interruption is announced (default:
    the instance metadata service's spot ``instance-action`` at ``$CML_METADATA_URL``, with a session token).
    """

    power_off: str = ""
    safety_net: str = ""
    spot_notice: str = ""

    def variables(self) -> dict[str, str]:
        """The hooks as the script's settings."""
        return {"CML_POWER_OFF_COMMAND": self.power_off, "CML_SAFETY_NET_COMMAND": self.safety_net,
                "CML_SPOT_NOTICE_COMMAND": self.spot_notice}


@dataclass(frozen=True)
class StartupSettings:
    """What the machine needs to run one forge runner and to know when to stop."""

    forge: str
    name: str
    labels: tuple[str, ...]
    #: GitHub: the repository (or organisation) URL; GitLab: the server URL.
    url: str
    #: Forge-specific registration material, as script variables (``CML_GITHUB_JITCONFIG`` …).
    registration: dict[str, str]
    idle_timeout: int = 300
    single: bool = False
    max_runtime: int = 0
    spot: bool = False
    workdir: str = DEFAULT_WORKDIR
    ssh_user: str = "ubuntu"
    ssh_public_key: str = ""
    user_script: bytes = b""
    hooks: MachineHooks = field(default_factory=MachineHooks)
    downloads: dict[str, str] = field(default_factory=lambda: {
        "CML_GITHUB_RUNNER_RELEASES": GITHUB_RUNNER_RELEASES, "CML_GITLAB_RUNNER_DOWNLOADS": GITLAB_RUNNER_DOWNLOADS})

    def variables(self) -> dict[str, str]:
        """The script's settings as shell variables, by name."""
        values = {
            "CML_FORGE": self.forge, "CML_RUNNER_NAME": self.name, "CML_RUNNER_LABELS": ",".join(self.labels),
            "CML_RUNNER_URL": self.url, "CML_RUNNER_IDLE_TIMEOUT": str(self.idle_timeout),
            "CML_RUNNER_SINGLE": "1" if self.single else "0", "CML_RUNNER_MAX_RUNTIME": str(self.max_runtime),
            "CML_RUNNER_SPOT": "1" if self.spot else "0", "CML_RUNNER_WORKDIR": self.workdir,
            "CML_SSH_USER": self.ssh_user, "CML_SSH_PUBLIC_KEY": self.ssh_public_key,
            "CML_USER_SCRIPT": base64.b64encode(self.user_script).decode() if self.user_script else "",
            "CML_GITHUB_JITCONFIG": "", "CML_GITHUB_REGISTRATION_TOKEN": "", "CML_GITHUB_REMOVAL_TOKEN": "",
            "CML_GITLAB_RUNNER_TOKEN": "",
        }
        values.update(self.hooks.variables())
        values.update(self.downloads)
        values.update(self.registration)
        return values


def script_template() -> str:
    """``startup.sh`` as shipped, with ``# @SETTINGS@`` where the settings go."""
    return resources.files("cml.runner").joinpath("startup.sh").read_text(encoding="utf-8")


def render_script(settings: StartupSettings) -> str:
    """The startup script with ``settings`` written in where ``# @SETTINGS@`` stands."""
    block = "\n".join(f"{name}={shlex.quote(value)}" for name, value in settings.variables().items())
    return script_template().replace("# @SETTINGS@", "# Settings written by cml runner launch.\n" + block, 1)


def pack_user_data(script: str, limit: int, service: str) -> bytes:
    """``script`` as cloud-init user data: as it is when it fits in ``limit`` bytes, else gzip-compressed
    (cloud-init unpacks gzip by itself).

    Raises :class:`UsageError` (naming ``cloud_startup_script``, the only part that can grow) when even the
    compressed script is over ``service``'s limit.
    """
    data = script.encode()
    if len(data) <= limit:
        return data
    packed = gzip.compress(data, compresslevel=9, mtime=0)
    if len(packed) > limit:
        raise UsageError(f"the machine's startup script is {len(packed):,} bytes compressed, over {service}'s "
                         f"{limit:,}-byte user-data limit; shorten it or have it download the rest",
                         parameter="cloud_startup_script")
    return packed
