"""FastAPI dependencies, for cookies and Bearer tokens alike:

    from gatehouse.fastapi import current_session, require_session, require_role

`current_session` is optional (`None` when nobody is signed in, and during an outage, with the
error in `request.state.auth_error`); `require_session` answers 401 problem+json, or 503 when
Gatehouse cannot be reached; `require_role("admin")` also answers 403 below that role in the
session's active workspace. The URL comes from `GATEHOUSE_URL` or `configure(url=…)`.
"""

import asyncio
import weakref
from typing import Any, Callable, Dict, Optional

from fastapi import Depends, HTTPException, Request

from ._transport import GatehouseUnavailable
from .asgi import end_user
from .auth import Auth
from .client import AsyncGatehouse

_settings: Dict[str, Any] = {}
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGatehouse]" = weakref.WeakKeyDictionary()


def configure(url: Optional[str] = None, **options: Any) -> None:
    """Sets the URL (else `GATEHOUSE_URL`) and client options (`api_key`, `timeout`, `cache_ttl`)
    the dependencies use."""
    _settings.clear()
    _settings.update(options, url=url)
    _clients.clear()


def client() -> AsyncGatehouse:
    """The client of the running event loop: its connections belong to that loop."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None:
        found = _clients[loop] = AsyncGatehouse(**_settings)
    return found


async def _session(request: Request) -> Optional[Auth]:
    cookie, authorization, user_agent, client_ip = end_user(request.scope)
    return await client().session(cookie=cookie, authorization=authorization, user_agent=user_agent, client_ip=client_ip)


async def current_session(request: Request) -> Optional[Auth]:
    try:
        auth = await _session(request)
        request.state.auth_error = None
    except GatehouseUnavailable as error:
        auth, request.state.auth_error = None, error
    request.state.auth = auth
    return auth


def _problem(status: int, code: str, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"status": status, "code": code, "detail": detail})


async def require_session(request: Request) -> Auth:
    try:
        auth = await _session(request)
    except GatehouseUnavailable as error:
        raise _problem(503, "auth_unavailable", "sign-in cannot be checked right now; try again shortly") from error
    if auth is None:
        raise _problem(401, "unauthenticated", "sign in first")
    request.state.auth = auth
    return auth


def require_role(role: str) -> Callable[..., Any]:
    """At least `role` (member < admin < owner) in the session's active workspace, else 403."""

    async def dependency(auth: Auth = Depends(require_session)) -> Auth:
        if not auth.has_role(role):
            raise _problem(403, "insufficient_role", f"this needs the {role} role in the active workspace")
        return auth

    return dependency
