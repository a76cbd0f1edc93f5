"""AWS EC2, through boto3: one instance per runner, terminated when it powers itself off.

Everything EC2 knows lives here: regions and their aliases, the instance types behind
iterative/cml's sizes and GPU names, machine images (AMIs), tag rules, the user-data
limit and the EC2-only options. Credentials and endpoint come from the usual AWS
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``); botocore's standard retry mode handles
throttling and server errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from cml.aws import credentialed_session
from cml.errors import UsageError
from cml.runner.backends.base import (
    LIVE_STATES,
    REGION_PARAMETER,
    RUNNER_TAG,
    CapacityError,
    CloudBackend,
    CloudError,
    CloudOption,
    Machine,
    MachineState,
    PreparedMachine,
)
from cml.runner.spec import MachineImage, MachineSpec, Region

REGION_ALIASES = {"us-east": "us-east-1", "us-west": "us-west-1", "eu-west": "eu-west-1", "eu-north": "eu-north-1"}
DEFAULT_REGION = "us-west"
REGION_PATTERN = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d")

#: ``cloud_type`` size → instance type, by GPU (``None``: no GPU): iterative/cml's Terraform provider's AWS table,
#: plus the GPUs AWS offers today.
SIZE_TYPES: dict[str | None, dict[str, str]] = {
    None: {"m": "m5.2xlarge", "l": "m5.8xlarge", "xl": "m5.16xlarge"},
    "k80": {"m": "p2.xlarge", "l": "p2.8xlarge", "xl": "p2.16xlarge"},
    "v100": {"m": "p3.2xlarge", "l": "p3.8xlarge", "xl": "p3.16xlarge"},
    "t4": {"m": "g4dn.xlarge", "l": "g4dn.12xlarge", "xl": "g4dn.metal"},
    "a10g": {"m": "g5.xlarge", "l": "g5.12xlarge", "xl": "g5.48xlarge"},
    "l4": {"m": "g6.xlarge", "l": "g6.12xlarge", "xl": "g6.48xlarge"},
    "l40s": {"m": "g6e.xlarge", "l": "g6e.12xlarge", "xl": "g6e.48xlarge"},
    "a100": {"m": "p4d.24xlarge", "l": "p4d.24xlarge", "xl": "p4de.24xlarge"},
    "h100": {"m": "p5.48xlarge", "l": "p5.48xlarge", "xl": "p5.48xlarge"},
}
#: Names users (and GCP/Azure habits) give the same GPU.
GPU_ALIASES: dict[str, str | None] = {
    "tesla": "v100", "nvidia-tesla-k80": "k80", "nvidia-tesla-v100": "v100", "nvidia-tesla-t4": "t4",
    "nvidia-tesla-a100": "a100", "nvidia-l4": "l4", "nvidia-a10g": "a10g", "nvidia-h100": "h100",
    "nogpu": None, "none": None}
#: Instance families of each GPU, to reject a native instance type that contradicts the GPU asked for.
GPU_FAMILIES = {gpu: {t.split(".")[0] for t in sizes.values()} for gpu, sizes in SIZE_TYPES.items() if gpu}
DEFAULT_SIZE = "m"
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
IMAGE_ID_PATTERN = re.compile(r"ami-[0-9a-f]{8,17}")

#: EC2 refuses user data above 16 KB (before base64).
USER_DATA_LIMIT = 16 * 1024
#: RunInstances error codes that mean "no capacity now", not "wrong request".
CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "SpotMaxPriceTooLow",
                  "MaxSpotInstanceCountExceeded", "UnfulfillableCapacity", "InsufficientSpotCapacity")
MIN_DISK_GB = 35
#: The tag the EC2 console shows as the instance's name.
NAME_TAG = "Name"


def configured_region(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The region boto3 would use when none is given, and where it came from: ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``, then the ``region`` of the profile (``AWS_PROFILE``, else ``default``) in
    ``AWS_CONFIG_FILE`` (``~/.aws/config``); ``None`` when none of them sets one.

    Read from ``environ`` rather than through a botocore session, which would read ``os.environ``."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if (environ.get(name) or "").strip():
            return environ[name].strip(), name
    from botocore.configloader import load_config
    from botocore.exceptions import BotoCoreError

    path = environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    shown = path
    if path.startswith("~") and environ.get("HOME"):
        path = environ["HOME"] + path[1:]
    profile = environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE") or "default"
    try:
        region = load_config(os.path.expanduser(path)).get("profiles", {}).get(profile, {}).get("region")
    except (BotoCoreError, OSError, ValueError):
        return None
    if isinstance(region, str) and region.strip():
        return region.strip(), f"profile {profile} in {shown}"
    return None


def region_name(region: str | None, source: str, parameter: str | None) -> str:
    """``us-west`` → ``us-west-1``; AWS region names pass through. A bad region is a UsageError naming
    ``parameter``, or, without one, naming ``source`` in its message."""
    value = (region or DEFAULT_REGION).strip()
    value = REGION_ALIASES.get(value, value)
    if not REGION_PATTERN.fullmatch(value):
        message = f"'{region}' is not an AWS region (like us-east-1) or one of {', '.join(REGION_ALIASES)}"
        if parameter is not None:
            raise UsageError(message, parameter=parameter)
        raise UsageError(f"{message} (from {source}); fix it or pass --cloud-region")
    return value


def resolve_gpu(cloud_gpu: str | None) -> str | None:
    """A GPU name as a key of :data:`SIZE_TYPES`, or ``None`` for no GPU."""
    if cloud_gpu is None or not cloud_gpu.strip():
        return None
    name = cloud_gpu.strip().lower()
    resolved = GPU_ALIASES.get(name, name)
    if resolved is not None and resolved not in SIZE_TYPES:
        known = ", ".join(g for g in SIZE_TYPES if g)
        raise UsageError(f"unknown GPU '{cloud_gpu}'; use one of {known}, or nogpu", parameter="cloud_gpu")
    return resolved


@dataclass(frozen=True)
class AwsImage(MachineImage):
    """A machine image: an id (``ami-…``), or the newest image whose name matches ``name`` from ``owner``."""

    image_id: str | None = None
    owner: str | None = None
    architecture: str | None = None
    name: str | None = None

    #: Ubuntu with NVIDIA drivers, Docker and the NVIDIA container toolkit, maintained by AWS, by architecture.
    DEFAULT_NAMES: ClassVar[dict[str, str]] = {
        "x86_64": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) *",
        "arm64": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"}

    def name_for(self, architecture: str) -> str:
        """The name pattern to search, for an instance of ``architecture``."""
        return self.name or self.DEFAULT_NAMES[architecture]

    @classmethod
    def parse(cls, cloud_image: str | None) -> AwsImage:
        """``ami-…``; or iterative's ``[user@]owner:architecture:name-pattern`` (any part may be empty);
        or a bare name pattern, searched among the account's own and Amazon's images."""
        if not cloud_image or not cloud_image.strip():
            return cls(owner="amazon", user="ubuntu")
        text = cloud_image.strip()
        if IMAGE_ID_PATTERN.fullmatch(text):
            return cls(image_id=text)
        user, _, rest = text.rpartition("@") if "@" in text.split(":")[0] else ("", "", text)
        parts = rest.split(":", 2)
        if len(parts) == 3:
            owner, architecture, name = (p.strip() or None for p in parts)
        elif len(parts) == 1:
            owner, architecture, name = None, None, parts[0].strip()
        else:
            raise UsageError(f"'{cloud_image}' is not an image: use ami-ID or [user@]owner:architecture:name-pattern",
                             parameter="cloud_image")
        if not name:
            raise UsageError(f"'{cloud_image}' names no image pattern", parameter="cloud_image")
        return cls(owner=owner, architecture=architecture, name=name, user=user or None)


def describe_error(error: Exception) -> str:
    """A botocore failure as one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '').strip()}"
    if isinstance(error, BotoCoreError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _code(error: Exception) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


class AwsBackend(CloudBackend):
    """EC2 instances. Calls ``DescribeInstanceTypes``, ``DescribeInstanceTypeOfferings``, ``DescribeImages``,
    ``DescribeSecurityGroups``, ``RunInstances``, ``DescribeInstances`` and ``TerminateInstances``."""

    name = "aws"
    title = "AWS EC2"
    service = "EC2"
    user_data_limit = USER_DATA_LIMIT
    options = (
        CloudOption("cloud_aws_key_name", "NAME", "Existing EC2 key pair to put on the machine."),
        CloudOption("cloud_aws_security_group", "ID|NAME", "Security group  [default: the VPC's default]"),
        CloudOption("cloud_aws_subnet", "ID", "Subnet.", aliases=("cloud_aws_subnet_id",)),
    )
    option_help = {
        "cloud_region": "AWS region, or us-east, us-west, eu-west, eu-north  [default: AWS_REGION, "
                        "AWS_DEFAULT_REGION, the AWS profile's region, else us-west]",
        "cloud_type": "Instance type (g4dn.xlarge), or a size m, l, xl (optionally +GPU: m+t4)  [default: m]",
        "cloud_gpu": "GPU for a size: t4, a10g, l4, l40s, v100, a100, h100, k80, or nogpu.",
        "cloud_hdd_size": f"Root disk size  [default: the image's, at least {MIN_DISK_GB}]",
        "cloud_image": "ami-ID, or [user@]owner:architecture:name-pattern (newest match)  [default: AWS's Deep "
                       "Learning Base GPU AMI, Ubuntu 24.04]",
        "cloud_permission_set": "Instance profile (ARN or name) for the machine.",
    }

    def __init__(self, region: str, environ: Mapping[str, str], warn: Callable[[str], None]):
        from botocore.config import Config

        self.region = region
        self.warn = warn
        session, _ = credentialed_session("cml runner", CloudError, region)
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60,
                        user_agent_extra="cml-runner")
        self.ec2 = session.client("ec2", config=config)

    @classmethod
    def resolve_region(cls, cloud_region: str | None, environ: Mapping[str, str],
                       requested_from: str = REGION_PARAMETER, parameter: str | None = REGION_PARAMETER) -> Region:
        """``cloud_region`` when given; otherwise boto3's own choice (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
        profile's region), so that cml works where the AWS CLI and SDK do; otherwise iterative/cml's ``us-west``."""
        if cloud_region is not None and cloud_region.strip():
            return Region(region_name(cloud_region, requested_from, parameter), requested_from)
        found = configured_region(environ)
        if found is not None:
            value, source = found
            return Region(region_name(value, source, None), source)
        return Region(region_name(DEFAULT_REGION, DEFAULT_REGION, None), f"default {DEFAULT_REGION}")

    @classmethod
    def machine_type(cls, cloud_type: str | None, cloud_gpu: str | None) -> str:
        """A size (``m``, ``l+t4``) or a native instance type (``g4dn.xlarge``) and a GPU, as an instance type."""
        value = (cloud_type or DEFAULT_SIZE).strip()
        size, _, size_gpu = value.partition("+")
        if size in SIZE_TYPES[None]:
            chosen = resolve_gpu(size_gpu) if size_gpu else resolve_gpu(cloud_gpu)
            return SIZE_TYPES[chosen][size]
        if not INSTANCE_TYPE_PATTERN.fullmatch(value):
            raise UsageError(f"'{cloud_type}' is not an instance type (like g4dn.xlarge) or a size "
                             f"({', '.join(SIZE_TYPES[None])}, optionally +GPU like m+t4)", parameter="cloud_type")
        wanted = resolve_gpu(cloud_gpu)
        family = value.split(".")[0]
        if wanted and family not in GPU_FAMILIES[wanted]:
            raise UsageError(f"--cloud-type {value} has no {wanted} GPU ({wanted} is on "
                             f"{', '.join(sorted(GPU_FAMILIES[wanted]))}); drop --cloud-gpu or pick a matching type",
                             parameter="cloud_gpu")
        return value

    @classmethod
    def parse_image(cls, cloud_image: str | None) -> AwsImage:
        """See :meth:`AwsImage.parse`."""
        return AwsImage.parse(cloud_image)

    @classmethod
    def parse_tags(cls, cloud_metadata: Sequence[str]) -> dict[str, str]:
        """EC2 tags: keys up to 128 characters not starting with ``aws:``, values up to 256."""
        tags = {}
        for item in cloud_metadata:
            key, _, value = item.partition("=")
            key = key.strip()
            if not key or key.lower().startswith("aws:") or len(key) > 128 or len(value) > 256:
                raise UsageError(f"'{item}' is not a tag: use key=value, keys up to 128 characters not starting "
                                 f"with aws:, values up to 256", parameter="cloud_metadata")
            tags[key] = value
        return tags

    def console_hint(self, machine_id: str) -> str:
        """The AWS CLI command that prints the instance's console output."""
        return f"aws ec2 get-console-output --instance-id {machine_id}"

    def _call(self, action: str, operation: Callable[[], Any], absent: tuple[str, ...] = ()) -> Any:
        """``operation()``; ``None`` when AWS answers with an error code starting with one of ``absent``
        (the thing looked up does not exist), a :class:`CloudError` for any other failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation()
        except ClientError as error:
            if absent and _code(error).startswith(absent):
                return None
            raise CloudError(f"AWS {self.region}: {action} failed: {describe_error(error)}") from None
        except BotoCoreError as error:
            raise CloudError(f"AWS {self.region}: {action} failed: {describe_error(error)}") from None

    def _architecture(self, instance_type: str) -> str:
        answer = self._call(f"reading instance type {instance_type}", lambda: self.ec2.describe_instance_types(
            InstanceTypes=[instance_type]), absent=("InvalidInstanceType",))
        found = answer["InstanceTypes"] if answer else []
        if not found:
            raise UsageError(f"EC2 has no instance type '{instance_type}' in {self.region}", parameter="cloud_type")
        offered = self._call("checking where the instance type is offered",
                             lambda: self.ec2.describe_instance_type_offerings(
                                 LocationType="region", Filters=[{"Name": "instance-type", "Values": [instance_type]}]))
        if not offered.get("InstanceTypeOfferings"):
            raise UsageError(f"{instance_type} is not offered in {self.region}; pick another type or --cloud-region",
                             parameter="cloud_type")
        architectures = found[0].get("ProcessorInfo", {}).get("SupportedArchitectures") or ["x86_64"]
        return "arm64" if "arm64" in architectures and "x86_64" not in architectures else "x86_64"

    def _image(self, image: AwsImage, architecture: str) -> dict[str, Any]:
        if image.image_id:
            image_id = image.image_id
            answer = self._call(f"reading image {image_id}", lambda: self.ec2.describe_images(ImageIds=[image_id]),
                                absent=("InvalidAMIID",))
            images = answer["Images"] if answer else []
            if not images:
                raise UsageError(f"no image {image_id} in {self.region}", parameter="cloud_image")
            return images[0]
        owners = [image.owner] if image.owner else ["self", "amazon"]
        name = image.name_for(architecture)
        filters = [{"Name": "name", "Values": [name]}, {"Name": "state", "Values": ["available"]},
                   {"Name": "architecture", "Values": [image.architecture or architecture]}]
        images = self._call("looking up the image", lambda: self.ec2.describe_images(
            Owners=owners, Filters=filters)["Images"])
        if not images:
            raise UsageError(f"no {image.architecture or architecture} image named '{name}' from "
                             f"{' or '.join(owners)} in {self.region}", parameter="cloud_image")
        return max(images, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))

    def _security_group(self, value: str) -> str:
        if value.startswith("sg-"):
            return value
        groups = self._call("looking up the security group", lambda: self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [value]}])["SecurityGroups"])
        if not groups:
            raise UsageError(f"no security group named '{value}' in {self.region}",
                             parameter="cloud_aws_security_group")
        return groups[0]["GroupId"]

    def prepare(self, spec: MachineSpec) -> PreparedMachine:
        """``DescribeInstanceTypes`` and ``DescribeInstanceTypeOfferings`` (the type exists and is offered in the
        region; its architecture), ``DescribeImages`` (the newest matching image), ``DescribeSecurityGroups`` for
        a group given by name."""
        image = spec.image if isinstance(spec.image, AwsImage) else AwsImage.parse(None)
        architecture = self._architecture(spec.instance_type)
        found = self._image(image, architecture)
        root = found.get("RootDeviceName") or "/dev/sda1"
        image_gb = next((m.get("Ebs", {}).get("VolumeSize") for m in found.get("BlockDeviceMappings", [])
                         if m.get("DeviceName") == root), None) or 0
        if spec.disk_gb is not None and spec.disk_gb < image_gb:
            raise UsageError(f"{spec.disk_gb} GB is smaller than the image's {image_gb} GB root volume",
                             parameter="cloud_hdd_size")
        disk = spec.disk_gb or max(image_gb, MIN_DISK_GB)
        group_option = spec.cloud_options.get("cloud_aws_security_group")
        group = self._security_group(group_option) if group_option else None
        return PreparedMachine(spec, found["ImageId"], disk, architecture,
                               {"root_device": root, "security_group": group})

    def _run_request(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str,
                     spot: bool) -> dict[str, Any]:
        spec = prepared.spec
        tag_list = [{"Key": key, "Value": value} for key, value in {NAME_TAG: tags.get(RUNNER_TAG, ""), **tags}.items()]
        request: dict[str, Any] = {
            "ImageId": prepared.image_id, "InstanceType": spec.instance_type, "MinCount": 1, "MaxCount": 1,
            "UserData": user_data, "ClientToken": token,
            # Powering off from inside terminates: the startup script's last act removes the machine.
            "InstanceInitiatedShutdownBehavior": "terminate",
            "BlockDeviceMappings": [{"DeviceName": prepared.details["root_device"], "Ebs": {
                "VolumeSize": prepared.disk_gb, "VolumeType": "gp3", "DeleteOnTermination": True}}],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tag_list},
                                  {"ResourceType": "volume", "Tags": tag_list}],
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        }
        if spot:
            options = {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}
            if spec.spot_price is not None and spec.spot_price > 0:
                options["MaxPrice"] = f"{spec.spot_price:g}"
            request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
        key_name = spec.cloud_options.get("cloud_aws_key_name")
        if key_name:
            request["KeyName"] = key_name
        if prepared.details.get("security_group"):
            request["SecurityGroupIds"] = [prepared.details["security_group"]]
        subnet = spec.cloud_options.get("cloud_aws_subnet")
        if subnet:
            request["SubnetId"] = subnet
        if spec.permission_set:
            key = "Arn" if spec.permission_set.startswith("arn:") else "Name"
            request["IamInstanceProfile"] = {key: spec.permission_set}
        return request

    def start(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str) -> Machine:
        """``RunInstances`` with shutdown behaviour ``terminate``, a gp3 root volume deleted with the instance,
        IMDSv2, the tags (and a ``Name`` tag: the runner name, unless given) on instance and volume, and spot
        options for a spot machine."""
        from botocore.exceptions import BotoCoreError, ClientError

        spec = prepared.spec
        spot = spec.spot
        while True:
            request = self._run_request(prepared, user_data, tags, token + ("" if spot == spec.spot else "-od"), spot)
            try:
                reply = self.ec2.run_instances(**request)
                return self._machine(reply["Instances"][0])
            except ClientError as error:
                code = _code(error)
                if code in CAPACITY_CODES and spot and spec.spot_fallback:
                    self.warn(f"no spot capacity for {spec.instance_type} in {self.region} ({code}); "
                              f"starting an on-demand instance (--cloud-spot-fallback)")
                    spot = False
                    continue
                if code in CAPACITY_CODES:
                    hint = (" or add --cloud-spot-fallback to start on demand instead" if spot else "")
                    raise CapacityError(f"AWS {self.region}: no {'spot ' if spot else ''}capacity for "
                                        f"{spec.instance_type} now ({describe_error(error)}); retry later, pick "
                                        f"another region or type{hint}") from None
                raise CloudError(f"AWS {self.region}: starting the instance failed: {describe_error(error)}") from None
            except BotoCoreError as error:
                raise CloudError(f"AWS {self.region}: starting the instance failed: {describe_error(error)}") from None

    def _machine(self, raw: dict[str, Any]) -> Machine:
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        return Machine(id=raw["InstanceId"], name=tags.get(RUNNER_TAG, ""), state=MachineState(raw["State"]["Name"]),
                       instance_type=raw.get("InstanceType", ""), region=self.region,
                       spot=raw.get("InstanceLifecycle") == "spot", launched_at=raw.get("LaunchTime"), tags=tags,
                       state_reason=(raw.get("StateReason") or {}).get("Message", ""))

    def describe(self, machine_id: str) -> Machine | None:
        """``DescribeInstances`` for one instance id."""
        answer = self._call(f"reading instance {machine_id}", lambda: self.ec2.describe_instances(
            InstanceIds=[machine_id]), absent=("InvalidInstanceID.NotFound",))
        if answer is None:
            return None
        instances = [i for r in answer["Reservations"] for i in r["Instances"]]
        return self._machine(instances[0]) if instances else None

    def terminate(self, machine_ids: list[str]) -> None:
        """``TerminateInstances``; the root volumes go with them (``DeleteOnTermination``)."""
        if machine_ids:
            self._call(f"terminating {', '.join(machine_ids)}",
                       lambda: self.ec2.terminate_instances(InstanceIds=list(machine_ids)))

    def machines(self, name: str | None = None, live_only: bool = True) -> list[Machine]:
        """``DescribeInstances`` filtered by the runner tag (and name), every page."""
        filters = [{"Name": f"tag:{RUNNER_TAG}", "Values": [name]} if name
                   else {"Name": "tag-key", "Values": [RUNNER_TAG]}]
        if live_only:
            filters.append({"Name": "instance-state-name", "Values": [state.value for state in LIVE_STATES]})

        def listing() -> list[dict[str, Any]]:
            pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
            return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

        found = [self._machine(raw) for raw in self._call("listing runner instances", listing)]
        return sorted(found, key=lambda m: (m.launched_at is None, m.launched_at or 0, m.name, m.id))
