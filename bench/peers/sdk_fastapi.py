"""FastAPI with gatehouse-sdk, run by uvicorn with one worker per core. GET /protected asks
Gatehouse (GATEHOUSE_URL) who the request is through `require_session`; GET /open is the same
route with no auth, the ceiling the SDK's cost is measured against."""

from fastapi import Depends, FastAPI

from gatehouse import Auth
from gatehouse.fastapi import require_session

app = FastAPI()
BODY = {"user": {"id": "42", "email": "bench@example.com"}}


@app.get("/open")
async def open_route() -> dict:
    return BODY


@app.get("/protected")
async def protected(auth: Auth = Depends(require_session)) -> dict:
    return {"user": {"id": auth.user["id"], "email": auth.user["email"]}}
