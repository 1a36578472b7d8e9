"""Any ASGI app (Starlette and the rest): `GatehouseMiddleware` sets `request.state.auth` (an
`Auth`, or `None`) and `request.state.auth_error` (the `GatehouseUnavailable` of an outage, else
`None`) on every HTTP request. Handlers decide what to require; during an outage a handler that
needs a person should answer 503, never treat them as signed out.
"""

import asyncio
import weakref
from typing import Any, Dict, Optional, Tuple

from ._transport import GatehouseUnavailable
from .auth import Auth
from .client import AsyncGatehouse


def end_user(scope: Dict[str, Any]) -> Tuple[Optional[str], Optional[str], Optional[str], Optional[str]]:
    """`(cookie, authorization, user agent, client address)` of an ASGI request."""
    headers: Dict[str, str] = {}
    for key, value in scope.get("headers", []):
        # The first of a repeated header, as a server reading one value would.
        headers.setdefault(key.decode("latin-1").lower(), value.decode("latin-1"))
    client = scope.get("client")
    return headers.get("cookie"), headers.get("authorization"), headers.get("user-agent"), client[0] if client else None


async def auth_of(gatehouse: AsyncGatehouse, scope: Dict[str, Any]) -> Tuple[Optional[Auth], Optional[Exception]]:
    cookie, authorization, user_agent, client_ip = end_user(scope)
    try:
        auth = await gatehouse.session(
            cookie=cookie, authorization=authorization, user_agent=user_agent, client_ip=client_ip
        )
        return auth, None
    except GatehouseUnavailable as error:
        return None, error


class GatehouseMiddleware:
    def __init__(self, app: Any, url: Optional[str] = None, **options: Any):
        self.app = app
        self.options = {**options, "url": url}
        # One client per event loop: its kept-alive connections belong to that loop.
        self.clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncGatehouse]" = weakref.WeakKeyDictionary()

    def client(self) -> AsyncGatehouse:
        loop = asyncio.get_running_loop()
        found = self.clients.get(loop)
        if found is None:
            found = self.clients[loop] = AsyncGatehouse(**self.options)
        return found

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            auth, error = await auth_of(self.client(), scope)
            state = scope.setdefault("state", {})
            state["auth"], state["auth_error"] = auth, error
        await self.app(scope, receive, send)
