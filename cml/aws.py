"""The boto3 session the S3 publisher and the EC2 runner backend share: credentials checked, secrets redacted."""

from __future__ import annotations

from typing import Any

from cml.errors import CmlError
from cml.secrets import register_secret


def credentialed_session(purpose: str, error: type[CmlError], region: str | None = None) -> tuple[Any, Any]:
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
