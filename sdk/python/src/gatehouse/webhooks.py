"""Verifying Gatehouse's webhooks (Standard Webhooks) with the official `standardwebhooks` library.

`verify_webhook(body, headers, secret)` checks the signature and the timestamp (five minutes'
tolerance) and returns a `WebhookEvent`; pass a list of secrets to keep working through a
rotation. Keep each `id` you have handled: a delivery can come more than once.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Mapping, Union

from standardwebhooks.webhooks import Webhook, WebhookVerificationError as _LibraryError

EventType = Literal[
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.revoked",
    "email.verified",
    "password.changed",
    "identity.linked",
    "identity.unlinked",
    "connection.broken",
    "workspace.created",
    "workspace.deleted",
    "member.added",
    "member.removed",
    "member.role_changed",
    "mfa.enabled",
    "mfa.disabled",
    "mfa.recovery_code_used",
]


class WebhookVerificationError(Exception):
    """The delivery is forged, altered, or outside the timestamp tolerance."""


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    """`webhook-id`: the same on every attempt of one event."""
    type: str
    """One of `EventType`, or an app's own event type."""
    timestamp: str
    data: Dict[str, Any]


def verify_webhook(
    body: Union[bytes, str], headers: Mapping[str, str], secret: Union[str, List[str]]
) -> WebhookEvent:
    secrets = [secret] if isinstance(secret, str) else list(secret)
    lowered = {k.lower(): v for k, v in headers.items()}
    raw = body.decode() if isinstance(body, bytes) else body
    for candidate in secrets:
        try:
            payload = Webhook(candidate).verify(raw, lowered)
        except _LibraryError:
            continue
        return WebhookEvent(
            id=lowered.get("webhook-id", ""),
            type=payload.get("type", ""),
            timestamp=payload.get("timestamp", ""),
            data=payload.get("data", {}),
        )
    raise WebhookVerificationError("no secret verifies this delivery (forged, altered or too old)")
