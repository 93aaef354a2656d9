"""Secrets and signatures, Standard Webhooks (standardwebhooks.com) through its reference library `standardwebhooks`.

`webhook-signature` lists one `v1,<base64>` per secret in force, space-separated: after `rotate-secret` the old
secret keeps signing beside the new one until its time is up, so receivers can switch at their pace.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["new_secret", "signed_headers", "valid_secret"]

_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh `whsec_` secret: 32 random bytes, base64."""
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def valid_secret(secret: str) -> bool:
    try:
        Webhook(secret)
    except Exception:
        return False
    return True


def signed_headers(msg_id: str, body: bytes, secrets_in_force: Sequence[str], at: datetime | None = None
                   ) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signatures = [Webhook(s).sign(msg_id, at, body) for s in secrets_in_force]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "pagemill-webhooks/1",
    }
