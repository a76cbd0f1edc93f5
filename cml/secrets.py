"""Keep tokens out of everything cml prints and everything it sends out.

Adapters register the tokens they use, and the command line registers the
credentials the CI put in the environment before it reads any file. Every line
written to stderr passes through :func:`redact`; every body sent out (comment,
check, job summary, published file) passes through :func:`refuse_secrets`, which
refuses rather than redacts: a report that carries a token is a report someone
built to steal it, and posting a masked copy would hide that.

A secret is recognised as it is, %-encoded, and base64-encoded at any offset
(``.git/config`` holds ``base64("x-access-token:" + token)``, where the token's
own encoding never appears as a whole).
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from urllib.parse import quote

from cml.errors import CmlError

_SECRETS: set[str] = set()
_PATTERNS: set[bytes] = set()
MASK = "***"
#: Shorter values are too likely to occur by chance to be refused or masked.
MIN_SECRET_LENGTH = 8
#: Environment variables that hold credentials in the CIs and tools cml works with.
CREDENTIAL_VARIABLES = (
    "REPO_TOKEN", "repo_token", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "GITEA_TOKEN", "CI_JOB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    "AZURE_CLIENT_SECRET", "CML_ASSET_TOKEN",
)


class SecretInContentError(CmlError):
    """Content about to be sent out carries a registered secret."""


def _base64(data: bytes) -> bytes:
    """``base64.b64encode(data)``, without importing :mod:`base64` at start-up."""
    return binascii.b2a_base64(data, newline=False)


def base64_fragments(secret: bytes) -> list[bytes]:
    """The base64 text that any encoding of data containing ``secret`` must contain, for each of the three
    byte offsets modulo 3 (characters that mix in neighbouring bytes are left out)."""
    fragments = []
    for offset in range(3):
        encoded = _base64(b"\0" * offset + secret)
        first = -(-8 * offset // 6)  # the first character made only of the secret's bits
        last = (8 * (offset + len(secret))) // 6  # one past the last such character
        if last - first >= MIN_SECRET_LENGTH:
            fragments.append(encoded[first:last])
    return fragments


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` (and its password part, if it is ``user:password``) so that output never shows it
    and nothing carrying it is sent out."""
    if not secret or len(secret) < MIN_SECRET_LENGTH // 2:
        return
    values = {secret}
    if ":" in secret:
        password = secret.partition(":")[2]
        if len(password) >= MIN_SECRET_LENGTH // 2:
            values.add(password)
    for value in values:
        _SECRETS.add(value)
        _SECRETS.add(_base64(value.encode()).decode())
        if len(value) < MIN_SECRET_LENGTH:
            continue
        raw = value.encode()
        _PATTERNS.update({raw, quote(value, safe="").encode(), *base64_fragments(raw)})


def register_environment_secrets(environ: Mapping[str, str]) -> None:
    """Register the credentials of :data:`CREDENTIAL_VARIABLES` found in ``environ``."""
    for name in CREDENTIAL_VARIABLES:
        register_secret(environ.get(name))


def redact(text: str) -> str:
    """``text`` with every registered secret, and its base64 at any offset, replaced by ``***``."""
    for secret in sorted(_SECRETS | {p.decode(errors="ignore") for p in _PATTERNS}, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def contains_secret(content: str | bytes) -> bool:
    """True if ``content`` carries a registered secret as it is, %-encoded or base64-encoded."""
    data = content.encode("utf-8", errors="surrogateescape") if isinstance(content, str) else content
    return any(pattern in data for pattern in _PATTERNS)


def refuse_secrets(content: str | bytes, origin: str) -> None:
    """Raise :class:`SecretInContentError` naming ``origin`` if ``content`` carries a registered secret."""
    if contains_secret(content):
        raise SecretInContentError(
            f"{origin}: refusing to send it: it contains a token or credential of this job "
            f"(or its base64); remove it from the content"
        )
