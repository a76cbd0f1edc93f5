"""Keep tokens out of everything cml prints.

Adapters register the tokens they use; the command line passes every line it
writes to stderr (messages and ``-v`` tracebacks) through :func:`redact`.
"""

from __future__ import annotations

import base64

_SECRETS: set[str] = set()
MASK = "***"


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` (and its Basic-auth and URL forms) so output never shows it."""
    if not secret or len(secret) < 4:
        return
    _SECRETS.add(secret)
    _SECRETS.add(base64.b64encode(secret.encode()).decode())
    if ":" in secret:
        user, _, password = secret.partition(":")
        if len(password) >= 4:
            _SECRETS.add(password)


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
