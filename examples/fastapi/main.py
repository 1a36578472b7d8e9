"""A FastAPI app that lets Gatehouse do its accounts.

- `current_user` is a dependency: it verifies the Gatehouse access token in `Authorization: Bearer`
  locally, against Gatehouse's JWKS (keys cached by PyJWT, refetched when a new key id appears), so
  a protected route costs no call to Gatehouse.
- `POST /webhooks/gatehouse` receives Gatehouse's webhooks, verified with the standardwebhooks
  package.

Run: GATEHOUSE_URL=http://127.0.0.1:8080 GATEHOUSE_WEBHOOK_SECRET=whsec_... uvicorn main:app
"""

import logging
import os
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

GATEHOUSE_URL = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8080").rstrip("/")
# Gatehouse's tokens.issuer and tokens.audience; both default to its public URL.
ISSUER = os.environ.get("GATEHOUSE_ISSUER", GATEHOUSE_URL)
AUDIENCE = os.environ.get("GATEHOUSE_AUDIENCE", GATEHOUSE_URL)
WEBHOOK_SECRET = os.environ.get("GATEHOUSE_WEBHOOK_SECRET")

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("example")
jwks = jwt.PyJWKClient(f"{GATEHOUSE_URL}/.well-known/jwks.json", cache_jwk_set=True, lifespan=300)
bearer = HTTPBearer(auto_error=False)
app = FastAPI(title="Example app")


def current_user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> dict:
    """The signed-in user from a Gatehouse access token; 401 without a valid one."""
    if credentials is None:
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    try:
        key = jwks.get_signing_key_from_jwt(credentials.credentials)
        claims = jwt.decode(
            credentials.credentials,
            key,
            algorithms=["ES256", "EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "sid"]},
        )
    except jwt.PyJWKClientConnectionError as error:
        raise HTTPException(502, "could not reach Gatehouse for its keys") from error
    except jwt.PyJWTError as error:
        raise HTTPException(401, "invalid or expired token", headers={"WWW-Authenticate": "Bearer"}) from error
    # An access token carries the user id (sub) and session id (sid), not the profile.
    return {"id": claims["sub"], "session_id": claims["sid"]}


User = Annotated[dict, Depends(current_user)]


@app.get("/")
def home() -> dict:
    return {"app": "example", "account": "/account"}


@app.get("/account")
def account(user: User) -> dict:
    return {"user": user}


# webhook-id is the same on every retry of one event; a real app records it with its own changes.
handled: set[str] = set()


@app.post("/webhooks/gatehouse", status_code=204)
async def gatehouse_webhook(request: Request) -> Response:
    if not WEBHOOK_SECRET:
        raise HTTPException(503, "GATEHOUSE_WEBHOOK_SECRET is not set")
    # The signature covers the exact bytes Gatehouse sent: verify the raw body, not parsed JSON.
    body = await request.body()
    try:
        event = Webhook(WEBHOOK_SECRET).verify(body, dict(request.headers))
    except WebhookVerificationError as error:
        raise HTTPException(400, "invalid signature") from error
    webhook_id = request.headers["webhook-id"]
    if webhook_id not in handled:
        handled.add(webhook_id)
        log.info("webhook %s (%s)", event["type"], webhook_id)
    return Response(status_code=204)
