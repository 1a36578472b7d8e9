"""A FastAPI app that lets Gatehouse do its accounts, through the gatehouse-sdk package.

- `/account` depends on `require_session`: the request's session cookie or access token
  (`Authorization: Bearer`) is checked with Gatehouse, passing on the person's user agent and
  address; nobody signed in is a 401, and an outage a 503, never a way in.
- `POST /webhooks/gatehouse` receives Gatehouse's webhooks, verified with `verify_webhook`.

Run: GATEHOUSE_URL=http://127.0.0.1:8080 GATEHOUSE_WEBHOOK_SECRET=whsec_... uvicorn main:app
"""

import logging
import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response

from gatehouse import Auth, WebhookVerificationError, verify_webhook
from gatehouse.fastapi import require_session

WEBHOOK_SECRET = os.environ.get("GATEHOUSE_WEBHOOK_SECRET")

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("example")
app = FastAPI(title="Example app")


@app.get("/")
def home() -> dict:
    return {"app": "example", "account": "/account"}


@app.get("/account")
def account(auth: Annotated[Auth, Depends(require_session)]) -> dict:
    return {"user": auth.user}


# webhook-id is the same on every retry of one event; a real app records it with its own changes.
handled: set[str] = set()


@app.post("/webhooks/gatehouse", status_code=204)
async def gatehouse_webhook(request: Request) -> Response:
    if not WEBHOOK_SECRET:
        raise HTTPException(503, "GATEHOUSE_WEBHOOK_SECRET is not set")
    # The signature covers the exact bytes Gatehouse sent: verify the raw body, not parsed JSON.
    try:
        event = verify_webhook(await request.body(), request.headers, WEBHOOK_SECRET)
    except WebhookVerificationError as error:
        raise HTTPException(400, "invalid signature") from error
    if event.id not in handled:
        handled.add(event.id)
        log.info("webhook %s (%s)", event.type, event.id)
    return Response(status_code=204)
