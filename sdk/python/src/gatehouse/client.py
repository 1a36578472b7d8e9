"""The clients: `Gatehouse` (sync) and `AsyncGatehouse`, each with every API operation (generated,
see `_api.py`), the session of an incoming request, and the hosted pages' URLs.

A session check is one `GET /v1/session` over a kept-alive connection, carrying the end user's
user agent and address (`X-Forwarded-For`) so that session binding and the audit log see the
person, not the app server; Gatehouse believes the address only from `server.trusted_proxies`, so
the app's address must be listed there. Nothing is cached unless `cache_ttl` is set: a session
revoked anywhere is refused on the app's very next request. With `cache_ttl = N`, a revoked
session may still be accepted by this process for up to N seconds.
"""

import ipaddress
import os
import threading
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode

import httpx

from ._api import AsyncOperations, SyncOperations
from ._transport import Credentials, GatehouseError, GatehouseUnavailable, outage_log, problem_of
from .auth import Auth

DEFAULT_TIMEOUT_SECS = 5.0


def _base_url(url: Optional[str]) -> str:
    url = url or os.environ.get("GATEHOUSE_URL")
    if not url:
        raise ValueError("Gatehouse's URL: pass url=… or set GATEHOUSE_URL")
    return url.rstrip("/")


def session_headers(
    cookie: Optional[str], authorization: Optional[str], user_agent: Optional[str], client_ip: Optional[str]
) -> Dict[str, str]:
    """The headers of a session check on behalf of an end user."""
    headers = {"Accept": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    if authorization:
        headers["Authorization"] = authorization
    if user_agent:
        headers["User-Agent"] = user_agent
    if client_ip and _is_address(client_ip):
        headers["X-Forwarded-For"] = client_ip
    return headers


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


class Urls:
    """The hosted pages, for links and redirects."""

    def __init__(self, base: str):
        self.base = base

    def _page(self, path: str, return_to: Optional[str]) -> str:
        return f"{self.base}{path}" + (f"?{urlencode({'return_to': return_to})}" if return_to else "")

    def sign_in(self, return_to: Optional[str] = None) -> str:
        """`/login`, and back to `return_to` (which must match `server.redirect_allowlist`)."""
        return self._page("/login", return_to)

    def sign_up(self, return_to: Optional[str] = None) -> str:
        return self._page("/signup", return_to)

    def account(self) -> str:
        return f"{self.base}/account"

    def sign_out(self) -> str:
        """The action of a `<form method="post">` that signs out (the account page's own button)."""
        return f"{self.base}/logout"


class _Cache:
    """Session answers kept for `ttl` seconds, when the app opts in."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.entries: Dict[Tuple, Tuple[float, Optional[Auth]]] = {}
        self.lock = threading.Lock()

    def get(self, key: Tuple) -> Tuple[bool, Optional[Auth]]:
        if self.ttl <= 0:
            return False, None
        with self.lock:
            found = self.entries.get(key)
            if found and found[0] > time.monotonic():
                return True, found[1]
            return False, None

    def put(self, key: Tuple, auth: Optional[Auth]) -> None:
        if self.ttl > 0:
            with self.lock:
                if len(self.entries) > 10_000:
                    self.entries.clear()
                self.entries[key] = (time.monotonic() + self.ttl, auth)


class _Base:
    def _setup(self, url: Optional[str], api_key: Optional[str], cache_ttl: float) -> None:
        self.url = _base_url(url)
        self.api_key = api_key if api_key is not None else os.environ.get("GATEHOUSE_API_KEY")
        self.urls = Urls(self.url)
        self.outage = outage_log(self.url)
        self._cache = _Cache(cache_ttl)

    def _credentials(self, credentials: Optional[Credentials]) -> Credentials:
        return credentials or Credentials(bearer=self.api_key)

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code >= 500:
            self.outage.failed(self.url, f"HTTP {response.status_code}")
            raise GatehouseUnavailable(f"Gatehouse answered {response.status_code}")
        self.outage.answered(self.url)
        if response.status_code >= 400:
            raise GatehouseError(response.status_code, problem_of(response.status_code, response.text))
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith(("application/json", "application/problem+json")):
            return response.json()
        return response.text

    def _session_answer(self, response: httpx.Response) -> Optional[Auth]:
        if response.status_code == 401:
            self.outage.answered(self.url)
            return None
        return Auth.from_json(self._answer(response))

    def _unreachable(self, error: Exception) -> GatehouseUnavailable:
        self.outage.failed(self.url, type(error).__name__)
        return GatehouseUnavailable(f"Gatehouse cannot be reached: {error}")


class Gatehouse(_Base, SyncOperations):
    """The sync client. `api_key` (or `GATEHOUSE_API_KEY`) is used for operations called without
    other `credentials`."""

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        api_key: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT_SECS,
        cache_ttl: float = 0,
        http: Optional[httpx.Client] = None,
    ):
        self._setup(url, api_key, cache_ttl)
        self.http = http or httpx.Client(timeout=timeout)

    def _call(self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]) -> Any:
        headers = self._credentials(credentials).headers(self.url, method)
        params = {k: v for k, v in query.items() if v is not None}
        try:
            response = self.http.request(method, self.url + path, params=params, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        return self._answer(response)

    def session(
        self,
        *,
        cookie: Optional[str] = None,
        authorization: Optional[str] = None,
        user_agent: Optional[str] = None,
        client_ip: Optional[str] = None,
    ) -> Optional[Auth]:
        """Who an incoming request is signed in as (its `Cookie` header or `Authorization`), or
        `None`. Raises `GatehouseUnavailable` when Gatehouse cannot say."""
        if not cookie and not authorization:
            return None
        key = (cookie, authorization, user_agent, client_ip)
        hit, cached = self._cache.get(key)
        if hit:
            return cached
        headers = session_headers(cookie, authorization, user_agent, client_ip)
        try:
            response = self.http.get(self.url + "/v1/session", headers=headers)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        auth = self._session_answer(response)
        self._cache.put(key, auth)
        return auth

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Gatehouse":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class AsyncGatehouse(_Base, AsyncOperations):
    """The async client, for asyncio apps (FastAPI, Starlette)."""

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        api_key: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT_SECS,
        cache_ttl: float = 0,
        http: Optional[httpx.AsyncClient] = None,
    ):
        self._setup(url, api_key, cache_ttl)
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def _call(
        self, method: str, path: str, *, query: Dict[str, Any], body: Any, credentials: Optional[Credentials]
    ) -> Any:
        headers = self._credentials(credentials).headers(self.url, method)
        params = {k: v for k, v in query.items() if v is not None}
        try:
            response = await self.http.request(method, self.url + path, params=params, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        return self._answer(response)

    async def session(
        self,
        *,
        cookie: Optional[str] = None,
        authorization: Optional[str] = None,
        user_agent: Optional[str] = None,
        client_ip: Optional[str] = None,
    ) -> Optional[Auth]:
        """As `Gatehouse.session`, without blocking the event loop."""
        if not cookie and not authorization:
            return None
        key = (cookie, authorization, user_agent, client_ip)
        hit, cached = self._cache.get(key)
        if hit:
            return cached
        headers = session_headers(cookie, authorization, user_agent, client_ip)
        try:
            response = await self.http.get(self.url + "/v1/session", headers=headers)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        auth = self._session_answer(response)
        self._cache.put(key, auth)
        return auth

    async def aclose(self) -> None:
        await self.http.aclose()
