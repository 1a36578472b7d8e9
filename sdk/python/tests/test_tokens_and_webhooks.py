"""Access tokens verified locally, and webhooks from a real Gatehouse verified."""

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gatehouse import Gatehouse, InvalidToken, TokenVerifier, WebhookVerificationError, verify_webhook


def test_a_token_is_verified_locally_with_its_issuer_audience_and_expiry(server, person):
    ada = person("tokens")
    token = ada.access_token()
    claims = TokenVerifier(server.url).verify(token)
    assert claims["sub"] == ada.user_id and claims["sid"] == ada.session_id
    with pytest.raises(InvalidToken, match="(?i)audience"):
        TokenVerifier(server.url, audience="https://another.example.com").verify(token)
    with pytest.raises(InvalidToken, match="(?i)expired"):
        # A negative leeway moves the expiry an hour earlier: the token as an hour from now sees it.
        TokenVerifier(server.url, leeway=-3600).verify(token)
    forged = jwt.encode(
        {"sub": ada.user_id, "iss": server.url, "aud": server.url, "exp": int(time.time()) + 600},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "not-a-gatehouse-key"},
    )
    with pytest.raises(InvalidToken, match="no signing key"):
        TokenVerifier(server.url).verify(forged)
    with pytest.raises(InvalidToken):
        TokenVerifier(server.url).verify("not.a.token")


def test_webhooks_are_verified_and_a_rotated_secret_still_works(server, person, receiver):
    gh = Gatehouse(server.url, api_key=server.service_key("webhooks"))
    endpoint = gh.webhooks_create_endpoint({"url": receiver.url, "event_types": ["user.created"]})
    secret = endpoint["secret"]
    ada = person("hooks")
    body, headers = receiver.wait_for("user.created")
    event = verify_webhook(body, headers, secret)
    assert event.type == "user.created" and event.data["user"]["id"] == ada.user_id
    assert event.id == headers["webhook-id"] or event.id == headers.get("Webhook-Id")
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.replace(b"hooks", b"hacks"), headers, secret)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, "whsec_" + "QUJD" * 8)

    rotated = gh.webhooks_rotate_secret(endpoint["endpoint"]["id"] if "endpoint" in endpoint else endpoint["id"])
    receiver.received.clear()
    person("after-rotation")
    body, headers = receiver.wait_for("user.created")
    assert verify_webhook(body, headers, [rotated["secret"]]).type == "user.created"
    assert verify_webhook(body, headers, [secret, rotated["secret"]]).type == "user.created"
