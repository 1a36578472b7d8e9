"""What every request to Gatehouse shares: credentials, the problem+json error, and outages.

A Gatehouse that cannot be reached, or answers 5xx, raises `GatehouseUnavailable`: callers fail
closed (503), never treat the person as signed out. The outage is logged once when it starts and
once when it ends, not once per request.
"""

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

log = logging.getLogger("gatehouse")


@dataclass(frozen=True)
class Credentials:
    """Whose call a request is: a service API key (`gh_…`), an access token, or a session cookie
    header (with the CSRF token that unsafe cookie requests need)."""

    bearer: Optional[str] = None
    cookie: Optional[str] = None
    csrf_token: Optional[str] = None
    user_agent: Optional[str] = None
    """On behalf of an end user: their user agent, so session binding sees them, not the app."""
    client_ip: Optional[str] = None
    """Their address (sent as `X-Forwarded-For`; the app must be in `server.trusted_proxies`)."""

    def headers(self, origin: str, method: str) -> Dict[str, str]:
        headers: Dict[str, str] = {}
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        if self.client_ip:
            headers["X-Forwarded-For"] = self.client_ip
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if self.cookie:
            headers["Cookie"] = self.cookie
            if method not in ("GET", "HEAD", "OPTIONS"):
                headers["Origin"] = origin
                if self.csrf_token:
                    headers["X-CSRF-Token"] = self.csrf_token
        return headers


class GatehouseError(Exception):
    """An RFC 9457 problem Gatehouse answered: `code` is stable (see `gatehouse.PROBLEM_CODES`)."""

    def __init__(self, status: int, problem: Dict[str, Any]):
        self.status = status
        self.problem = problem
        self.code: str = problem.get("code", "unknown")
        self.detail: str = problem.get("detail", "")
        self.errors: List[Dict[str, str]] = problem.get("errors") or []
        self.request_id: Optional[str] = problem.get("request_id")
        super().__init__(f"{status} {self.code}: {self.detail}")


class GatehouseUnavailable(Exception):
    """Gatehouse could not be reached or answered 5xx: fail closed."""


@dataclass
class OutageLog:
    """Logs the start and the end of an outage, once each."""

    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, url: str, reason: str) -> None:
        with self.lock:
            if not self.down:
                self.down = True
                log.warning("Gatehouse at %s is unavailable (%s); protected routes answer 503", url, reason)

    def answered(self, url: str) -> None:
        if self.down:
            with self.lock:
                if self.down:
                    self.down = False
                    log.warning("Gatehouse at %s answers again", url)


_outages: Dict[str, OutageLog] = {}
_outages_lock = threading.Lock()


def outage_log(url: str) -> OutageLog:
    """The one outage log of a Gatehouse URL, shared by every client of this process."""
    with _outages_lock:
        return _outages.setdefault(url, OutageLog())


def problem_of(status: int, text: str) -> Dict[str, Any]:
    import json

    try:
        value = json.loads(text)
        if isinstance(value, dict):
            return value
    except ValueError:
        pass
    return {"status": status, "code": "unknown", "detail": text[:200]}
