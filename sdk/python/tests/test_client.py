"""The clients against the real server: the session of a request, typed problems, service keys."""

import asyncio

import pytest

from conftest import BROWSER
from gatehouse import AsyncGatehouse, Credentials, Gatehouse, GatehouseError


def test_a_session_is_seen_until_it_is_revoked(server, person):
    ada = person("ada")
    gh = Gatehouse(server.url)
    auth = gh.session(cookie=ada.cookie, user_agent=BROWSER, client_ip="203.0.113.9")
    assert auth is not None and auth.user["email"] == ada.email
    assert ada.post("/v1/logout").status_code == 204
    assert gh.session(cookie=ada.cookie, user_agent=BROWSER) is None, "refused on the very next request"
    assert gh.session() is None


def test_a_disabled_user_is_refused(server, person):
    bob = person("bob")
    gh = Gatehouse(server.url, api_key=server.service_key("admin"))
    assert gh.session(cookie=bob.cookie, user_agent=BROWSER) is not None
    gh.admin_disable(bob.user_id)
    assert gh.session(cookie=bob.cookie, user_agent=BROWSER) is None


def test_binding_sees_the_end_users_agent(server, person):
    cy = person("cy")
    gh = Gatehouse(server.url)
    assert gh.session(cookie=cy.cookie, user_agent=BROWSER) is not None
    assert gh.session(cookie=cy.cookie, user_agent="SomethingElse/2.0") is None, "another agent ends a bound session"
    assert gh.session(cookie=cy.cookie, user_agent=BROWSER) is None, "and it stays ended"


def test_binding_sees_the_end_users_address(tmp_path, person):
    from conftest import Server

    bound = Server(tmp_path, binding="user_agent_and_ip")
    try:
        gh = Gatehouse(bound.url)
        first, second = person.__wrapped__(bound, "near"), person.__wrapped__(bound, "far")
        # Both signed up from 127.0.0.1; the app passes on where each request comes from.
        assert gh.session(cookie=first.cookie, user_agent=BROWSER, client_ip="127.0.0.1") is not None
        assert gh.session(cookie=second.cookie, user_agent=BROWSER, client_ip="203.0.113.9") is None, (
            "another network ends a session bound to its address: the address reached Gatehouse"
        )
    finally:
        bound.stop()


def test_problems_are_typed_and_credentials_chosen_per_call(server, person):
    gh = Gatehouse(server.url)
    with pytest.raises(GatehouseError) as failed:
        gh.accounts_login({"email": "nobody@example.com", "password": "wrong wrong wrong"})
    assert (failed.value.status, failed.value.code) == (401, "invalid_credentials")
    with pytest.raises(GatehouseError) as failed:
        gh.accounts_signup({"email": "not an address", "password": "x"})
    assert failed.value.code == "validation_failed" and {e["field"] for e in failed.value.errors} == {"email", "password"}
    dee = person("dee")
    as_dee = Credentials(cookie=dee.cookies, csrf_token=dee.csrf, user_agent=BROWSER)
    named = gh.profile_update({"name": "Dee"}, credentials=as_dee)
    assert named["user"]["name"] == "Dee"
    token = Credentials(bearer=dee.access_token(), user_agent=BROWSER)
    assert gh.sessions_whoami(credentials=token)["user"]["name"] == "Dee"
    with pytest.raises(GatehouseError) as failed:
        gh.admin_users()
    assert failed.value.status == 401, "no service key, no admin API"
    admin = Gatehouse(server.url, api_key=server.service_key("admin"))
    page = admin.admin_users(email_prefix="dee-")
    assert [u["email"] for u in page["users"]] == [dee.email]


def test_the_async_client_does_the_same(server, person):
    eve = person("eve")

    async def check():
        gh = AsyncGatehouse(server.url)
        auth = await gh.session(cookie=eve.cookie, user_agent=BROWSER)
        providers = await gh.oauth_providers()
        await gh.aclose()
        return auth, providers

    auth, providers = asyncio.run(check())
    assert auth.user["email"] == eve.email
    assert providers == {"providers": []}


def test_an_opt_in_cache_trades_revocation_for_round_trips(server, person):
    fay = person("fay")
    gh = Gatehouse(server.url, cache_ttl=60)
    assert gh.session(cookie=fay.cookie, user_agent=BROWSER) is not None
    fay.post("/v1/logout")
    assert gh.session(cookie=fay.cookie, user_agent=BROWSER) is not None, "cached: exactly the documented trade"
    assert Gatehouse(server.url).session(cookie=fay.cookie, user_agent=BROWSER) is None


def test_urls_of_the_hosted_pages(server):
    urls = Gatehouse(server.url).urls
    assert urls.sign_in("http://testserver/a?b=1") == f"{server.url}/login?return_to=http%3A%2F%2Ftestserver%2Fa%3Fb%3D1"
    assert urls.sign_up() == f"{server.url}/signup"
    assert (urls.account(), urls.sign_out()) == (f"{server.url}/account", f"{server.url}/logout")
