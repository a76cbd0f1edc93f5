"""The boto3 session the S3 publisher and the EC2 runner backend share: credentials checked, secrets redacted."""

from __future__ import annotations

from cml.errors import CmlError
from cml.secrets import register_secret


def credentialed_session(purpose: str, error: type[CmlError], region: str | None = None):
    """A boto3 session and its credentials (from the usual AWS variables, profile or role); no credentials is
    ``error`` naming ``purpose``. The secret key and session token are redacted from everything cml prints."""
    import boto3

    session = boto3.session.Session(region_name=region)
    credentials = session.get_credentials()
    if credentials is None:
        raise error(f"no AWS credentials for {purpose}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    f"AWS_PROFILE, or give the job a role")
    register_secret(credentials.secret_key)
    register_secret(credentials.token)
    return session, credentials


def configured_region(environ) -> tuple[str, str] | None:
    """The region boto3 would use when none is given, and where it came from: ``AWS_REGION``, then
    ``AWS_DEFAULT_REGION``, then the ``region`` of the profile (``AWS_PROFILE``, else ``default``) in
    ``AWS_CONFIG_FILE`` (``~/.aws/config``); ``None`` when none of them sets one.

    Read from ``environ`` rather than through a botocore session, which would read ``os.environ``."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if (environ.get(name) or "").strip():
            return environ[name].strip(), name
    import os

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
