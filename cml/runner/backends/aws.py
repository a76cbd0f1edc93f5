"""AWS EC2, through boto3: one instance per runner, terminated when it powers itself off.

Credentials and endpoint come from the usual AWS variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``);
botocore's standard retry mode handles throttling and server errors.
"""

from __future__ import annotations

from typing import Callable
from collections.abc import Mapping

from cml.errors import UsageError
from cml.runner.backends.base import (
    LIVE_STATES,
    RUNNER_TAG,
    CapacityError,
    CloudBackend,
    CloudError,
    Machine,
    PreparedMachine,
)
from cml.runner.spec import MachineSpec

#: RunInstances error codes that mean "no capacity now", not "wrong request".
CAPACITY_CODES = ("InsufficientInstanceCapacity", "InsufficientCapacity", "SpotMaxPriceTooLow",
                  "MaxSpotInstanceCountExceeded", "UnfulfillableCapacity", "InsufficientSpotCapacity")
MIN_DISK_GB = 35


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
    """EC2 instances. Calls ``DescribeInstanceTypes``, ``DescribeInstanceTypeOfferings``, ``DescribeImages``, ``DescribeSecurityGroups``,
    ``RunInstances``, ``DescribeInstances`` and ``TerminateInstances``."""

    name = "aws"

    def __init__(self, region: str, environ: Mapping[str, str], warn: Callable[[str], None]):
        from botocore.config import Config

        from cml.aws import credentialed_session

        self.region = region
        self.warn = warn
        session, _ = credentialed_session("cml runner", CloudError, region)
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60,
                        user_agent_extra="cml-runner")
        self.ec2 = session.client("ec2", config=config)

    def _call(self, action: str, operation: Callable[[], dict], absent: tuple[str, ...] = ()) -> dict | None:
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
            raise UsageError(f"EC2 has no instance type '{instance_type}' in {self.region}", parameter="--cloud-type")
        offered = self._call("checking where the instance type is offered", lambda: self.ec2.describe_instance_type_offerings(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": [instance_type]}]))
        if not offered.get("InstanceTypeOfferings"):
            raise UsageError(f"{instance_type} is not offered in {self.region}; pick another type or --cloud-region",
                             parameter="--cloud-type")
        architectures = found[0].get("ProcessorInfo", {}).get("SupportedArchitectures") or ["x86_64"]
        return "arm64" if "arm64" in architectures and "x86_64" not in architectures else "x86_64"

    def _image(self, spec: MachineSpec, architecture: str) -> dict:
        image = spec.image
        if image.image_id:
            answer = self._call(f"reading image {image.image_id}", lambda: self.ec2.describe_images(
                ImageIds=[image.image_id]), absent=("InvalidAMIID",))
            images = answer["Images"] if answer else []
            if not images:
                raise UsageError(f"no image {image.image_id} in {self.region}", parameter="--cloud-image")
            return images[0]
        owners = [image.owner] if image.owner else ["self", "amazon"]
        name = image.name_for(architecture)
        filters = [{"Name": "name", "Values": [name]}, {"Name": "state", "Values": ["available"]},
                   {"Name": "architecture", "Values": [image.architecture or architecture]}]
        images = self._call("looking up the image", lambda: self.ec2.describe_images(
            Owners=owners, Filters=filters)["Images"])
        if not images:
            raise UsageError(f"no {image.architecture or architecture} image named '{name}' from "
                             f"{' or '.join(owners)} in {self.region}", parameter="--cloud-image")
        return max(images, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))

    def _security_group(self, value: str) -> str:
        if value.startswith("sg-"):
            return value
        groups = self._call("looking up the security group", lambda: self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [value]}])["SecurityGroups"])
        if not groups:
            raise UsageError(f"no security group named '{value}' in {self.region}", parameter="--cloud-aws-security-group")
        return groups[0]["GroupId"]

    def prepare(self, spec: MachineSpec) -> PreparedMachine:
        """``DescribeInstanceTypes`` and ``DescribeInstanceTypeOfferings`` (the type exists and is offered in the
        region; its architecture), ``DescribeImages`` (the newest
        matching image), ``DescribeSecurityGroups`` for a group given by name."""
        architecture = self._architecture(spec.instance_type)
        image = self._image(spec, architecture)
        root = image.get("RootDeviceName") or "/dev/sda1"
        image_gb = next((m.get("Ebs", {}).get("VolumeSize") for m in image.get("BlockDeviceMappings", [])
                         if m.get("DeviceName") == root), None) or 0
        if spec.disk_gb is not None and spec.disk_gb < image_gb:
            raise UsageError(f"{spec.disk_gb} GB is smaller than the image's {image_gb} GB root volume",
                             parameter="--cloud-hdd-size")
        disk = spec.disk_gb or max(image_gb, MIN_DISK_GB)
        group = self._security_group(spec.security_group) if spec.security_group else None
        return PreparedMachine(spec, image["ImageId"], image.get("Name") or image["ImageId"], disk,
                               {"root_device": root, "security_group": group, "architecture": architecture})

    def _run_request(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str,
                     spot: bool) -> dict:
        spec = prepared.spec
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        request = {
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
        if spec.key_name:
            request["KeyName"] = spec.key_name
        if prepared.details.get("security_group"):
            request["SecurityGroupIds"] = [prepared.details["security_group"]]
        if spec.subnet:
            request["SubnetId"] = spec.subnet
        if spec.instance_profile:
            key = "Arn" if spec.instance_profile.startswith("arn:") else "Name"
            request["IamInstanceProfile"] = {key: spec.instance_profile}
        return request

    def start(self, prepared: PreparedMachine, user_data: bytes, tags: dict[str, str], token: str) -> Machine:
        """``RunInstances`` with shutdown behaviour ``terminate``, a gp3 root volume deleted with the instance,
        IMDSv2, the tags on instance and volume, and spot options for ``--cloud-spot``."""
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

    def _machine(self, raw: dict) -> Machine:
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        return Machine(id=raw["InstanceId"], name=tags.get(RUNNER_TAG, ""), state=raw["State"]["Name"],
                       instance_type=raw.get("InstanceType", ""), region=self.region,
                       spot=raw.get("InstanceLifecycle") == "spot", launched_at=raw.get("LaunchTime"), tags=tags,
                       state_reason=(raw.get("StateReason") or {}).get("Message", ""))

    def describe(self, machine_id: str) -> Machine | None:
        """``DescribeInstances`` for one instance id."""
        answer = self._call(f"reading instance {machine_id}", lambda: self.ec2.describe_instances(
            InstanceIds=[machine_id]), absent=("InvalidInstanceID.NotFound",))
        if answer is None:
            return None
        reservations = answer["Reservations"]
        instances = [i for r in reservations for i in r["Instances"]]
        return self._machine(instances[0]) if instances else None

    def terminate(self, machine_ids: list[str]) -> None:
        """``TerminateInstances``; the root volumes go with them (``DeleteOnTermination``)."""
        if machine_ids:
            self._call(f"terminating {', '.join(machine_ids)}",
                       lambda: self.ec2.terminate_instances(InstanceIds=list(machine_ids)))

    def machines(self, name: str | None = None, live_only: bool = True) -> list[Machine]:
        """``DescribeInstances`` filtered by the runner tag (and name), every page."""
        filters = [{"Name": f"tag:{RUNNER_TAG}", "Values": [name]} if name else {"Name": "tag-key", "Values": [RUNNER_TAG]}]
        if live_only:
            filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})

        def listing():
            pages = self.ec2.get_paginator("describe_instances").paginate(Filters=filters)
            return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]

        found = [self._machine(raw) for raw in self._call("listing runner instances", listing)]
        return sorted(found, key=lambda m: (m.launched_at is None, m.launched_at or 0, m.name, m.id))
