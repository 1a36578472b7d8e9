"""Access tokens (from `POST /v1/token`) verified locally against `/.well-known/jwks.json`.

For services that receive tokens rather than cookies: no round trip per request. The trade: a
token verified locally stays valid until it expires (10 minutes by default), even if its session
is revoked meanwhile. Use `Gatehouse.session(authorization=…)` where that matters.

Keys are cached; a token naming an unknown `kid` (a rotation) makes one refetch, at most once a
minute, so forged `kid`s cannot make the app hammer Gatehouse. Issuer, audience and expiry are
always checked.
"""

import threading
import time
from typing import Any, Dict, Optional

import httpx
import jwt

from ._transport import GatehouseUnavailable

ALGORITHMS = ["ES256", "EdDSA"]
REFETCH_INTERVAL_SECS = 60.0


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or for another issuer or audience."""


class TokenVerifier:
    def __init__(
        self,
        url: str,
        *,
        audience: Optional[str] = None,
        leeway: float = 0,
        http: Optional[httpx.Client] = None,
    ):
        self.issuer = url.rstrip("/")
        # Gatehouse's default `tokens.audience` is its public URL.
        self.audience = audience or self.issuer
        self.leeway = leeway
        self.http = http or httpx.Client(timeout=5.0)
        self._keys: Dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            response = self.http.get(self.issuer + "/.well-known/jwks.json")
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise GatehouseUnavailable(f"the JWKS cannot be fetched: {error}") from error
        keys = {}
        for jwk in response.json().get("keys", []):
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk)
            except (jwt.PyJWKError, KeyError):
                continue
        self._keys, self._fetched_at = keys, time.monotonic()

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._fetched_at >= REFETCH_INTERVAL_SECS:
                self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(f"no signing key {kid!r}")
        return key

    def verify(self, token: str) -> Dict[str, Any]:
        """The token's claims (`sub`, `sid`, `amr`, `wid`, `role`, …), or `InvalidToken`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        key = self._key(str(header.get("kid")))
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                # `iat` in the future is only clock skew between hosts; `exp` is what bounds a token.
                options={"require": ["exp", "iss", "aud", "sub"], "verify_iat": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
