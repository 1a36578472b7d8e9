"""Gatehouse stopped mid-test: protected routes answer 503 (never let through, never treated as
signed out), optional ones see nobody with the outage visible, and all recover when it returns."""

import logging

from fastapi.testclient import TestClient

from conftest import BROWSER
from test_frameworks import fastapi_app


def test_an_outage_fails_closed_and_recovers(server, person, caplog):
    app = fastapi_app(server.url)
    ada = person("outage")
    client = TestClient(app, headers={"User-Agent": BROWSER, "Cookie": ada.cookie})
    assert client.get("/me").status_code == 200
    server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="gatehouse"):
            for _ in range(3):
                down = client.get("/me")
                assert down.status_code == 503 and down.json()["detail"]["code"] == "auth_unavailable"
            assert client.get("/maybe").json() == {"email": None, "outage": True}
        warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(warnings) == 1, "logged once per outage, not per request"
    finally:
        server.start()
    assert client.get("/me").json()["email"] == ada.email, "the session survives the outage"
