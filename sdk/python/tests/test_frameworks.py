"""FastAPI, Starlette (ASGI) and Django apps on the package, with a real Gatehouse behind them."""

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import gatehouse.fastapi as gf
from conftest import BROWSER
from gatehouse import Auth
from gatehouse.asgi import GatehouseMiddleware


def fastapi_app(url):
    gf.configure(url)
    app = FastAPI()

    @app.get("/me")
    async def me(auth: Auth = Depends(gf.require_session)):
        return {"email": auth.user["email"], "role": auth.role}

    @app.get("/maybe")
    async def maybe(request: Request, auth=Depends(gf.current_session)):
        return {"email": auth.user["email"] if auth else None, "outage": request.state.auth_error is not None}

    @app.get("/admin")
    async def admin(auth: Auth = Depends(gf.require_role("admin"))):
        return {"ok": True}

    return app


def browser(app, person=None):
    headers = {"User-Agent": BROWSER}
    if person:
        headers["Cookie"] = person.cookie
    return TestClient(app, headers=headers)


def test_fastapi_sees_the_person_by_cookie_and_by_bearer(server, person):
    app = fastapi_app(server.url)
    ada = person("ada")
    assert browser(app, ada).get("/me").json() == {"email": ada.email, "role": None}
    bearer = TestClient(app, headers={"Authorization": f"Bearer {ada.access_token()}", "User-Agent": BROWSER})
    assert bearer.get("/me").json()["email"] == ada.email
    anonymous = browser(app).get("/me")
    assert anonymous.status_code == 401 and anonymous.json()["detail"]["code"] == "unauthenticated"
    assert browser(app).get("/maybe").json() == {"email": None, "outage": False}
    ada.post("/v1/logout")
    assert browser(app, ada).get("/me").status_code == 401, "revoked: refused on the next request"


def test_fastapi_require_role_follows_the_active_workspace(server, person):
    app = fastapi_app(server.url)
    owner, member = person("owner"), person("member")
    assert browser(app, owner).get("/admin").status_code == 403, "no workspace, no role"
    created = owner.post("/v1/workspaces", {"name": "Acme"})
    workspace = created.json()["id"]
    assert owner.post("/v1/session/workspace", {"workspace_id": workspace}).status_code == 200
    assert browser(app, owner).get("/admin").json() == {"ok": True}
    invited = owner.post(f"/v1/workspaces/{workspace}/invitations", {"email": member.email})
    assert invited.status_code == 201
    # The invitation's link, from the email the console provider logged.
    import re
    import time

    log = server.workdir / "server.log"
    deadline = time.monotonic() + 15
    token = None
    while time.monotonic() < deadline and token is None:
        found = re.findall(r"/invitation\?token=([A-Za-z0-9_\-]{43})", log.read_text())
        token = found[-1] if found else None
        time.sleep(0.05)
    assert token, "the invitation email"
    assert member.post("/v1/invitations/accept", {"token": token}).status_code == 200
    assert member.post("/v1/session/workspace", {"workspace_id": workspace}).status_code == 200
    forbidden = browser(app, member).get("/admin")
    assert forbidden.status_code == 403 and forbidden.json()["detail"]["code"] == "insufficient_role"
    assert browser(app, member).get("/me").json()["role"] == "member"


def test_any_asgi_app_gets_request_state_auth(server, person):
    async def home(request):
        auth = request.state.auth
        return JSONResponse({"email": auth.user["email"] if auth else None})

    app = GatehouseMiddleware(Starlette(routes=[Route("/", home)]), server.url)
    ada = person("asgi")
    assert browser(app, ada).get("/").json() == {"email": ada.email}
    assert browser(app).get("/").json() == {"email": None}


@pytest.fixture(scope="module")
def django_client(server):
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["gatehouse.django.GatehouseMiddleware"],
            GATEHOUSE_URL=server.url,
            SECRET_KEY="tests-only",
        )
        django.setup()
    from django.test import Client

    return Client


def _django_view(request):
    from django.http import JsonResponse

    return JsonResponse({"email": request.gatehouse.user["email"]})


def _urlpatterns():
    from django.urls import path

    from gatehouse.django import gatehouse_required

    return [path("private", gatehouse_required(_django_view))]


def __getattr__(name):
    # Django reads `urlpatterns` from ROOT_URLCONF (this module) once it is configured.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def test_django_middleware_and_decorator(server, person, django_client):
    ada = person("django")
    client = django_client(HTTP_USER_AGENT=BROWSER)
    client.cookies.load(ada.cookie)
    assert client.get("/private").json() == {"email": ada.email}
    anonymous = django_client(HTTP_USER_AGENT=BROWSER)
    page = anonymous.get("/private", HTTP_ACCEPT="text/html")
    assert page.status_code == 302
    assert page["Location"] == f"{server.url}/login?return_to=http%3A%2F%2Ftestserver%2Fprivate"
    api = anonymous.get("/private", HTTP_ACCEPT="application/json")
    assert api.status_code == 401 and api.json()["code"] == "unauthenticated"
