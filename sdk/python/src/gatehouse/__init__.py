"""Gatehouse for Python apps: the API client (sync and async), the session of a request, locally
verified access tokens, webhook verification, and integrations for FastAPI (`gatehouse.fastapi`),
any ASGI app (`gatehouse.asgi`) and Django (`gatehouse.django`)."""

from ._api import API_VERSION, OPERATIONS, PROBLEM_CODES, ProblemCode
from ._transport import Credentials, GatehouseError, GatehouseUnavailable
from .auth import Auth
from .client import AsyncGatehouse, Gatehouse, Urls
from .tokens import InvalidToken, TokenVerifier
from .webhooks import EventType, WebhookEvent, WebhookVerificationError, verify_webhook

__version__ = API_VERSION

__all__ = [
    "API_VERSION",
    "OPERATIONS",
    "PROBLEM_CODES",
    "AsyncGatehouse",
    "Auth",
    "Credentials",
    "EventType",
    "Gatehouse",
    "GatehouseError",
    "GatehouseUnavailable",
    "InvalidToken",
    "ProblemCode",
    "TokenVerifier",
    "Urls",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify_webhook",
]
