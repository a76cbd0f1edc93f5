"""S3 and S3-compatible stores (MinIO, R2, Ceph…) through boto3.

Credentials, region and endpoint come from the usual AWS variables
(``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL[_S3]``).
Links are presigned (private bucket, links expire) unless ``public`` is asked for.
"""

from __future__ import annotations

from typing import Any, Callable
from collections.abc import Mapping
from urllib.parse import urlsplit

from cml.assets.content import Asset, AssetError
from cml.assets.publisher import Publisher, in_parallel
from cml.aws import credentialed_session
from cml.errors import UsageError
from cml.http import HttpPolicy

#: SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
IMMUTABLE = "public, max-age=31536000, immutable"


def parse_s3_url(url: str, parameter: str = "publish_url") -> tuple[str, str]:
    """``("bucket", "prefix/")`` from ``s3://bucket/prefix``; an error names ``parameter``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"'{url}' is not an S3 URL; use s3://BUCKET/PREFIX", parameter=parameter)
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    details = response.get("Error") or {}
    if details:
        return f"{details.get('Code', 'error')}: {details.get('Message') or 'no message'}"
    return str(error)


class S3Publisher(Publisher):
    """``HeadObject`` then ``PutObject`` per distinct file; presigned or plain ``GetObject`` URLs.

    ``url``, ``public`` and ``expires`` are what publishing was asked for as ``publish_url``, ``publish_public``
    and ``publish_expires``, the names errors give them.
    """

    def __init__(self, url: str, public: bool = False, expires: int = MAX_PRESIGN_SECONDS,
                 environ: Mapping[str, str] | None = None, warn: Callable[[str], None] = lambda message: None):
        super().__init__()
        self.bucket, self.prefix = parse_s3_url(url)
        self.label = f"S3 bucket {self.bucket}"
        self.public = public
        if not public and not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise UsageError("presigned S3 links last between 1 second and 7 days; pass a shorter duration "
                             "or --publish-public", parameter="publish_expires")
        self.expires = expires
        self.warn = warn
        self.policy = HttpPolicy.from_environment(environ)
        self._client: Any = None
        self._acl_supported = True

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made (and the credentials checked) on first use."""
        return self._connect()

    def _connect(self) -> Any:
        if self._client is None:
            from botocore import UNSIGNED
            from botocore.config import Config

            config = Config(signature_version="s3v4", connect_timeout=self.policy.timeout,
                            read_timeout=self.policy.timeout,
                            retries={"mode": "standard", "max_attempts": self.policy.attempts})
            session, credentials = credentialed_session("S3", AssetError)
            if not self.public and credentials.token:
                self.warn("the S3 links are presigned with temporary credentials and stop working when those expire; "
                          "use long-lived credentials or --publish-public for lasting links")
            self._client = session.client("s3", config=config)
            # Plain links for public files: same endpoint and addressing style, no signature.
            self._unsigned = session.client("s3", config=config.merge(Config(signature_version=UNSIGNED)))
        return self._client

    def key_of(self, asset: Asset) -> str:
        return self.prefix + asset.name

    def url_of(self, key: str) -> str:
        params = {"Bucket": self.bucket, "Key": key}
        if self.public:
            return self._unsigned.generate_presigned_url("get_object", Params=params)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=self.expires)

    def _put(self, asset: Asset, key: str) -> None:
        from botocore.exceptions import ClientError

        arguments = {"Bucket": self.bucket, "Key": key, "Body": asset.data, "ContentType": asset.mime_type,
                     "CacheControl": IMMUTABLE}
        if self.public and self._acl_supported:
            try:
                self.client.put_object(ACL="public-read", **arguments)
                return
            except ClientError as error:
                if (error.response.get("Error") or {}).get("Code") != "AccessControlListNotSupported":
                    raise
                self._acl_supported = False
                self.warn(f"bucket {self.bucket} has ACLs disabled; the files are uploaded without 'public-read' "
                          "and are visible only if the bucket policy makes them public")
        self.client.put_object(**arguments)

    def _publish_one(self, asset: Asset) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_of(asset)
        try:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if str((error.response.get("Error") or {}).get("Code")) not in ("404", "NoSuchKey", "NotFound"):
                    raise
                self._put(asset, key)
            return self.url_of(key)
        except (ClientError, BotoCoreError) as error:
            raise AssetError(f"S3: publishing {asset.origin} to s3://{self.bucket}/{key} failed ({_describe(error)}); "
                             "check the bucket name, the credentials' s3:PutObject permission and AWS_ENDPOINT_URL") from None

    def _store(self, assets: list[Asset]) -> dict[str, str]:
        self._connect()  # once, credentials checked, before the threads start
        return dict(zip((a.name for a in assets), in_parallel(self._publish_one, assets)))
