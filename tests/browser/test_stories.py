"""Stories a person lives through in the hosted pages, in a real Chromium, on each backend."""

import base64
import hashlib
import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlparse

import pyotp
from playwright.sync_api import expect

PASSWORD = "a long and lovely passphrase"
AXE = Path(__file__).parent / "node_modules/axe-core/axe.min.js"


def new_email(tag):
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def api_signup(gh, email, password=PASSWORD):
    """An account made through the JSON API (no browser, so no cookie and no CSRF to pass)."""
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(gh.base + "/v1/signup", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def submit(v, button="button.primary"):
    with v.page.expect_navigation() as navigation:
        v.page.click(button)
    return navigation.value


def fill_and_submit(v, path, fields, return_to=None):
    v.go(path + (f"?return_to={quote(return_to)}" if return_to else ""))
    for name, value in fields.items():
        v.page.fill(f"#{name}", value)
    return submit(v)


def ask_for_a_link(v, link_text, email):
    """From the sign-in page, follow `link_text` and ask for a link to `email`."""
    v.go("/login")
    with v.page.expect_navigation():
        v.page.click(f"text={link_text}")
    v.page.fill("#email", email)
    submit(v)
    expect(v.page.locator("h1")).to_have_text("Check your email")


def whoami(v):
    return v.context.request.get(v.gh.base + "/v1/session")


def path_of(v):
    return urlparse(v.page.url).path


def test_sign_up_confirm_the_address_and_land_at_return_to(gh, visit):
    v = visit()
    email = new_email("signup")
    target = gh.app.base + "/welcome?from=signup"
    fill_and_submit(v, "/signup", {"email": email, "name": "Ada", "password": PASSWORD}, return_to=target)
    assert v.page.url == target, "signed in and sent on to return_to"
    link = gh.link_for(email, "/verify-email")
    assert "return_to=" in link, "the verification link carries return_to"
    v.go(link)
    expect(v.page.locator("h1")).to_have_text("Confirm your email address")
    submit(v)
    assert v.page.url == target
    session = whoami(v)
    assert session.ok and session.json()["user"]["email_verified"] is True
    v.go("/account")
    expect(v.page.locator(".profile")).to_contain_text(email)
    submit(v, "form.signout button")
    assert path_of(v) == "/login"
    expect(v.page.locator(".notice")).to_have_text("You are signed out.")
    assert whoami(v).status == 401


def test_a_wrong_password_is_explained_and_the_right_one_signs_in(gh, visit):
    email = new_email("password")
    api_signup(gh, email)
    v = visit()
    response = fill_and_submit(v, "/login", {"email": email, "password": "not the password"})
    assert response.status == 401
    error = v.page.locator("#password-error")
    expect(error).to_have_text("The email address or password is wrong.")
    expect(v.page.locator("#password")).to_have_attribute("aria-describedby", "password-error")
    expect(v.page.locator("#password")).to_have_attribute("aria-invalid", "true")
    expect(v.page.locator("#email")).to_have_value(email)
    expect(v.page.locator("#password")).to_have_value("")
    v.page.fill("#password", PASSWORD)
    submit(v)
    assert path_of(v) == "/account"
    expect(v.page.locator("h1")).to_have_text("Your account")


def test_a_forgotten_password_is_reset_and_old_sessions_end(gh, visit):
    email = new_email("reset")
    api_signup(gh, email)
    old = visit()
    fill_and_submit(old, "/login", {"email": email, "password": PASSWORD})
    assert path_of(old) == "/account"

    v = visit()
    ask_for_a_link(v, "Forgot your password?", email)
    v.go(gh.link_for(email, "/reset-password"))
    expect(v.page.locator("h1")).to_have_text("Choose a new password")
    new_password = "an entirely new passphrase"
    v.page.fill("#password", new_password)
    submit(v)
    assert path_of(v) == "/login"
    expect(v.page.locator(".notice")).to_contain_text("Your password is set")

    old.go("/account")
    assert path_of(old) == "/login", "the session from before the reset has ended"
    v.page.fill("#email", email)
    v.page.fill("#password", new_password)
    submit(v)
    assert path_of(v) == "/account"


def test_sign_in_with_an_email_link(gh, visit):
    email = new_email("magic")
    api_signup(gh, email)
    v = visit()
    ask_for_a_link(v, "Email me a sign-in link instead", email)
    v.go(gh.link_for(email, "/magic-link"))
    expect(v.page.locator("h1")).to_have_text("Sign in with your link")
    submit(v)
    assert path_of(v) == "/account"
    expect(v.page.locator(".profile")).to_contain_text(email)


def test_sign_in_with_the_test_provider_lands_at_return_to(gh, visit):
    v = visit()
    target = gh.app.base + "/after-provider"
    v.go("/login?return_to=" + quote(target))
    v.page.click("text=Sign in with Test ID")
    v.page.wait_for_url(target)
    session = whoami(v)
    assert session.ok, session.text()
    assert session.json()["user"]["email"] == "someone@example.com"
    v.go("/account")
    expect(v.page.locator("section[aria-labelledby=identities]")).to_contain_text("Test ID")


def test_the_account_page_signs_out_another_session(gh, visit):
    email = new_email("sessions")
    api_signup(gh, email)
    other = visit()
    fill_and_submit(other, "/login", {"email": email, "password": PASSWORD})
    v = visit()
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    rows = v.page.locator("section[aria-labelledby=sessions] ul.rows > li")
    # The account made by the API has its own session too.
    before = rows.count()
    assert before >= 2
    submit(v, "section[aria-labelledby=sessions] form[action$='/revoke'] button >> nth=0")
    expect(v.page.locator(".notice")).to_have_text("That session is signed out.")
    expect(rows).to_have_count(before - 1)
    submit(v, "section[aria-labelledby=sessions] form[action$='/revoke-others'] button")
    expect(rows).to_have_count(1)
    other.go("/account")
    assert path_of(other) == "/login", "the other browser is signed out"


def test_an_app_behind_caddy_sends_a_newcomer_through_sign_up_and_back(gh, visit):
    """Forward-auth: the app is behind Caddy, which asks Gatehouse about every request."""
    v = visit()
    protected = gh.caddy.base + "/reports?month=12"
    v.go(protected)
    assert v.page.url.startswith(gh.base + "/login?return_to="), "Caddy sent the browser to sign in"
    with v.page.expect_navigation():
        v.page.click("text=Create one")
    email = new_email("caddy")
    v.page.fill("#email", email)
    v.page.fill("#password", PASSWORD)
    submit(v)
    assert v.page.url == protected, "signed up and back on the app"
    expect(v.page.locator("#user")).to_have_text(email)
    v.go(gh.link_for(email, "/verify-email"))
    submit(v)
    assert v.page.url == protected, "the confirmation link also leads back to the app"
    expect(v.page.locator("#path")).to_have_text("/reports?month=12")


def test_a_return_to_outside_the_allowlist_is_not_followed(gh, visit):
    email = new_email("allowlist")
    api_signup(gh, email)
    v = visit()
    v.go("/login?return_to=" + quote("http://evil.test/steal"))
    assert v.page.locator("input[name=return_to]").count() == 0, "the page does not carry it"
    v.page.fill("#email", email)
    v.page.fill("#password", PASSWORD)
    submit(v)
    assert v.page.url == gh.base + "/account"


def test_a_login_flood_shows_the_wait(gh, visit):
    email = new_email("flood")
    api_signup(gh, email)
    v = visit()
    v.go("/login")
    statuses = []
    for _ in range(6):
        v.page.fill("#email", email)
        v.page.fill("#password", "a wrong guess, again")
        statuses.append(submit(v))
    last = statuses[-1]
    assert last.status == 429, [s.status for s in statuses]
    assert int(last.headers["retry-after"]) > 0
    alert = v.page.locator("#form-error")
    expect(alert).to_contain_text("Too many attempts. Wait")
    assert re.search(r"Wait \d+ (seconds|minutes), then try again", alert.inner_text()), alert.inner_text()
    expect(v.page.locator("#email")).to_have_value(email)


def test_the_keyboard_alone_signs_in(gh, visit):
    email = new_email("keyboard")
    api_signup(gh, email)
    v = visit()
    v.go("/login")
    v.page.keyboard.press("Tab")
    assert v.page.evaluate("document.activeElement.id") == "email"
    v.page.keyboard.type(email)
    v.page.keyboard.press("Tab")
    assert v.page.evaluate("document.activeElement.id") == "password"
    v.page.keyboard.type(PASSWORD)
    with v.page.expect_navigation():
        v.page.keyboard.press("Enter")
    assert path_of(v) == "/account"


def pages_to_check(gh, v):
    """Every page as a person first sees it, signed out then signed in."""
    email = new_email("pages")
    api_signup(gh, email)
    verify = gh.link_for(email, "/verify-email")
    signed_out = ["/login", "/signup", "/forgot-password", "/login/email-link", verify]
    return email, signed_out, ["/account"]


def test_every_page_is_clean_accessible_and_fits_a_phone(gh, visit):
    v = visit(viewport={"width": 360, "height": 740})
    email, signed_out, signed_in = pages_to_check(gh, v)
    for path in signed_out:
        response = v.go(path)
        assert response.status == 200, path
        headers = response.headers
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert v.page.evaluate("document.documentElement.scrollWidth") <= 360, f"{path} is wider than the phone"
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    for path in signed_in:
        assert v.go(path).status == 200
        assert v.page.evaluate("document.documentElement.scrollWidth") <= 360, f"{path} is wider than the phone"
    assert v.console_errors == [], v.console_errors

    # axe-core is injected as a script, which the pages' CSP rightly refuses: this context
    # bypasses CSP for the audit only.
    audit = visit(bypass_csp=True)
    for path in signed_out:
        audit.go(path)
        assert_accessible(audit, path)
    fill_and_submit(audit, "/login", {"email": email, "password": PASSWORD})
    for path in signed_in:
        audit.go(path)
        assert_accessible(audit, path)
    v.go("/login")


def assert_accessible(v, path):
    v.page.add_script_tag(path=str(AXE))
    result = v.page.evaluate("axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'best-practice'] })")
    violations = [(item["id"], item["help"], [node["target"] for node in item["nodes"]]) for item in result["violations"]]
    assert violations == [], f"{path}: {violations}"


def test_the_pages_the_readme_shows(gh, visit):
    """The sign-in page and a lived-in account page (two devices, a linked provider), at a
    laptop's width: the README's pictures are copied from these (docs/images/)."""
    shots = Path(__file__).resolve().parents[2] / "target/browser/screenshots"
    phone = visit(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1")
    v = visit(viewport={"width": 900, "height": 760})
    v.go("/login")
    expect(v.page.locator("h1")).to_have_text("Sign in")
    v.page.screenshot(path=shots / f"readme-{gh.backend}-sign-in.png")
    # A provider sign-in creates the account; a second device signs in by email link.
    v.page.click("text=Sign in with Test ID")
    v.page.wait_for_url(gh.base + "/account")
    phone.go("/login/email-link")
    phone.page.fill("#email", "someone@example.com")
    submit(phone)
    phone.go(gh.link_for("someone@example.com", "/magic-link"))
    submit(phone)
    v.go("/account")
    # At least these two (the provider story signs this account in too, when it ran first).
    assert v.page.locator("section[aria-labelledby=sessions] ul.rows > li").count() >= 2
    v.page.screenshot(path=shots / f"readme-{gh.backend}-account.png", full_page=True)


def api_as(v, method, path, body=None):
    """A JSON call from the signed-in browser context, with the session's CSRF token."""
    token = v.context.request.get(v.gh.base + "/v1/csrf").json()["token"]
    headers = {"Origin": v.gh.base, "X-CSRF-Token": token, "Content-Type": "application/json"}
    return v.context.request.fetch(v.gh.base + path, method=method, headers=headers, data=json.dumps(body or {}))


def test_an_invitation_is_followed_from_its_email_and_the_account_deleted(gh, visit):
    """An owner invites by email; the invitee follows the link signed out, signs in, confirms their
    address, joins, sees the workspace on the account page, and later deletes the account."""
    owner, invitee = new_email("owner"), new_email("invitee")
    api_signup(gh, owner)
    api_signup(gh, invitee)
    o = visit()
    fill_and_submit(o, "/login", {"email": owner, "password": PASSWORD})
    workspace = api_as(o, "POST", "/v1/workspaces", {"name": "Blue team"})
    assert workspace.status == 201, workspace.text()
    invited = api_as(o, "POST", f"/v1/workspaces/{workspace.json()['id']}/invitations", {"email": invitee})
    assert invited.status == 201, invited.text()

    v = visit()
    v.go(gh.link_for(invitee, "/verify-email"))
    submit(v)
    link = gh.link_for(invitee, "/invitation")
    v.go(link)
    assert path_of(v) == "/login", "signed out: sign in first"
    v.page.fill("#email", invitee)
    v.page.fill("#password", PASSWORD)
    submit(v)
    assert path_of(v) == "/invitation", "and back to the invitation"
    expect(v.page.locator("dl.profile")).to_contain_text("Blue team")
    shots = Path(__file__).resolve().parents[2] / "target/browser/screenshots"
    v.page.screenshot(path=shots / f"invitation-{gh.backend}.png")
    submit(v)
    expect(v.page.locator(".notice")).to_have_text("You joined the workspace.")
    expect(v.page.locator("section[aria-labelledby=workspaces]")).to_contain_text("Blue team")
    v.page.screenshot(path=shots / f"account-with-workspace-{gh.backend}.png", full_page=True)

    delete = "details:has(summary:has-text('Delete your account'))"
    v.page.click(f"{delete} summary")
    v.page.locator(delete).screenshot(path=shots / f"delete-account-{gh.backend}.png")
    v.page.fill("#password", "not the password")
    submit(v, "button.danger")
    expect(v.page.locator("#form-error")).to_have_text(
        "Confirm it is you first: enter your password or a code from your authenticator app."
    )
    v.page.click(f"{delete} summary")
    v.page.fill("#password", PASSWORD)
    submit(v, "button.danger")
    expect(v.page.locator(".notice")).to_have_text("Your account is deleted.")
    assert whoami(v).status == 401
    members = api_as(o, "GET", f"/v1/workspaces/{workspace.json()['id']}/members")
    assert [m["email"] for m in members.json()["members"]] == [owner]


def test_an_authenticator_app_is_set_up_and_asked_for_at_sign_in(gh, visit):
    """Two-step sign-in with pyotp as the phone's authenticator app: set up from the account page
    (QR code and typed key), the recovery codes shown once, a code at sign-in, a recovery code
    working once, and the app removed again."""
    shots = Path(__file__).resolve().parents[2] / "target/browser/screenshots"
    email = new_email("totp")
    api_signup(gh, email)
    v = visit()
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    two_step = v.page.locator("section[aria-labelledby=two-step]")
    submit(v, "form[action='/account/mfa/totp'] button")
    expect(v.page.locator(".notice")).to_have_text("Now scan the QR code with your authenticator app.")
    expect(two_step.locator("figure.qr svg")).to_be_visible()
    secret = v.page.locator("#totp-secret").inner_text().replace(" ", "")
    app = pyotp.TOTP(secret)
    two_step.screenshot(path=shots / f"totp-setup-{gh.backend}.png")
    v.page.fill("#code", app.now())
    submit(v, "form[action='/account/mfa/totp/confirm'] button")
    expect(v.page.locator("h1")).to_have_text("Save your recovery codes")
    codes = v.page.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[0-9a-z]{4}(-[0-9a-z]{4}){3}", c) for c in codes), codes
    v.page.screenshot(path=shots / f"totp-recovery-codes-{gh.backend}.png")
    with v.page.expect_navigation():
        v.page.click("text=I have saved them")
    expect(two_step).to_contain_text("Authenticator app")
    expect(two_step).to_contain_text("10 left")
    assert whoami(v).json()["session"]["amr"] == ["pwd", "otp"]
    submit(v, "form.signout button")

    # The password is only the first step now.
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    assert path_of(v) == "/login/mfa"
    assert whoami(v).status == 401, "no session before the code"
    expect(v.page.locator("h1")).to_have_text("Enter your code")
    v.page.screenshot(path=shots / f"totp-second-step-{gh.backend}.png")
    v.page.fill("#code", "000000")
    assert submit(v).status == 401
    expect(v.page.locator("#code-error")).to_contain_text("That code is not right")
    # The next 30-second step's code: the one that confirmed the app cannot be used again, and
    # the server allows one step of clock skew.
    v.page.fill("#code", app.at(time.time() + 30))
    submit(v)
    assert path_of(v) == "/account"
    assert whoami(v).json()["session"]["amr"] == ["pwd", "otp"]

    # A recovery code signs in once, in another browser; the pages there pass an accessibility audit
    # (axe is a script, so that browser lets the audit bypass the CSP).
    other = visit(bypass_csp=True)
    fill_and_submit(other, "/login", {"email": email, "password": PASSWORD})
    assert_accessible(other, "/login/mfa")
    other.page.fill("#code", codes[0].upper())
    submit(other)
    assert path_of(other) == "/account"
    assert_accessible(other, "/account with an authenticator app")
    third = visit()
    fill_and_submit(third, "/login", {"email": email, "password": PASSWORD})
    third.page.fill("#code", codes[0])
    assert submit(third).status == 401, "a recovery code works once"

    # Removing the app: this sign-in is fresh, so it is allowed without asking again.
    v.go("/account")
    submit(v, "form[action='/account/mfa/totp/remove'] button")
    expect(v.page.locator(".notice")).to_contain_text("The authenticator app is removed")
    expect(two_step.locator("form[action='/account/mfa/totp'] button")).to_be_visible()
    # The one console line is the wrong code's 401 above; nothing was blocked by the CSP.
    assert len(v.console_errors) == 1 and "401" in v.console_errors[0], v.console_errors


def virtual_authenticator(v):
    """Chromium's virtual authenticator on this page: a platform authenticator with user
    verification (a fingerprint that always matches) that keeps discoverable credentials."""
    cdp = v.context.new_cdp_session(v.page)
    cdp.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]
    return cdp, authenticator


def test_a_passkey_is_added_used_as_a_second_factor_and_to_sign_in_and_deleted(gh, visit):
    """With Chromium's virtual authenticator: added from the account page, offered in the sign-in
    page's autofill, used as the second step and on its own, refused when its assertion names
    another origin or its counter goes back (a copied key), and deleted."""
    shots = Path(__file__).resolve().parents[2] / "target/browser/screenshots"
    email = new_email("passkey")
    api_signup(gh, email)
    v = visit()
    cdp, authenticator = virtual_authenticator(v)
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    two_step = v.page.locator("section[aria-labelledby=two-step]")
    v.page.fill("#passkey-name", "Test laptop")
    v.page.click("button[data-passkey=register]")
    # The first second factor comes with recovery codes, shown once on the page.
    recovery = v.page.locator("#passkey-recovery")
    expect(recovery).to_be_visible()
    codes = recovery.locator("ol.codes code").all_inner_texts()
    assert len(codes) == 10, codes
    recovery.screenshot(path=shots / f"passkey-recovery-codes-{gh.backend}.png")
    with v.page.expect_navigation():
        v.page.click("#passkey-recovery a")
    expect(v.page.locator(".notice")).to_have_text("The passkey is added. Signing in can use it from now on.")
    expect(two_step.locator("li.passkey")).to_have_count(1)
    expect(two_step.locator("li.passkey strong")).to_have_text("Test laptop")
    two_step.screenshot(path=shots / f"passkey-listed-{gh.backend}.png")
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    submit(v, "form.signout button")

    # Autofill: focusing the address field offers the passkey (conditional mediation); the
    # virtual authenticator picks it at once, as a person would from the list.
    v.go("/login")
    with v.page.expect_navigation():
        v.page.focus("#email")
    assert path_of(v) == "/account"
    assert whoami(v).json()["session"]["amr"] == ["hwk"]
    submit(v, "form.signout button")

    def presence(on):
        """Whether the authenticator answers by itself; off, the autofill waits for a person."""
        cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": on})

    # The password is the first step now; the passkey is the second.
    presence(False)
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    presence(True)
    assert path_of(v) == "/login/mfa"
    v.page.screenshot(path=shots / f"passkey-second-step-{gh.backend}.png")
    with v.page.expect_navigation():
        v.page.click("button[data-passkey=second-step]")
    assert path_of(v) == "/account"
    assert whoami(v).json()["session"]["amr"] == ["pwd", "hwk"], "a device-bound passkey: hwk"
    submit(v, "form.signout button")

    # Or alone, without the password.
    v.go("/login")
    v.page.screenshot(path=shots / f"passkey-sign-in-{gh.backend}.png")
    with v.page.expect_navigation():
        v.page.click("button[data-passkey=sign-in]")
    assert path_of(v) == "/account"
    assert whoami(v).json()["session"]["amr"] == ["hwk"]
    submit(v, "form.signout button")

    # An assertion whose signed client data names another site is refused.
    def from_elsewhere(route):
        body = json.loads(route.request.post_data)
        data = body["credential"]["response"]["clientDataJSON"]
        client_data = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
        # The same JSON, byte for byte, but another origin: what a phishing site's page would sign.
        assert f'"origin":"{gh.base}"' in client_data, client_data
        client_data = client_data.replace(f'"origin":"{gh.base}"', '"origin":"https://evil.example"')
        encoded = base64.urlsafe_b64encode(client_data.encode()).decode().rstrip("=")
        body["credential"]["response"]["clientDataJSON"] = encoded
        route.continue_(post_data=json.dumps(body))

    # And one made for another relying party (its authenticator data hashes another RP id).
    def for_another_party(route):
        body = json.loads(route.request.post_data)
        data = body["credential"]["response"]["authenticatorData"]
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        raw = hashlib.sha256(b"evil.example").digest() + raw[32:]
        body["credential"]["response"]["authenticatorData"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        route.continue_(post_data=json.dumps(body))

    for tamper in [from_elsewhere, for_another_party]:
        v.go("/login")
        v.page.route("**/v1/passkeys/authenticate/finish", tamper)
        v.page.click("button[data-passkey=sign-in]")
        expect(v.page.locator("#passkey-error")).to_contain_text("could not be verified for this site")
        v.page.unroute("**/v1/passkeys/authenticate/finish")
        assert whoami(v).status == 401, tamper.__name__

    # A copy of the key (its signature counter behind the stored one) is refused too.
    credential = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"][0]
    assert credential["signCount"] > 1
    cdp.send("WebAuthn.removeCredential", {"authenticatorId": authenticator, "credentialId": credential["credentialId"]})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": {**credential, "signCount": 0}})
    v.go("/login")
    v.page.click("button[data-passkey=sign-in]")
    expect(v.page.locator("#passkey-error")).to_contain_text("signature counter went backwards")
    assert whoami(v).status == 401

    # Deleting it (a fresh password sign-in, the recovery code as the second step): two-step
    # sign-in is off again.
    presence(False)
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    v.page.fill("#code", codes[0])
    submit(v)
    assert path_of(v) == "/account"
    submit(v, "li.passkey form[action$='/delete'] button")
    expect(v.page.locator(".notice")).to_have_text("The passkey is deleted.")
    expect(two_step.locator("li.passkey")).to_have_count(0)
    submit(v, "form.signout button")
    fill_and_submit(v, "/login", {"email": email, "password": PASSWORD})
    assert path_of(v) == "/account", "no second step any more"
    assert v.console_errors == [] or all("401" in e for e in v.console_errors), v.console_errors


def sign_in(v, email, password=PASSWORD):
    fill_and_submit(v, "/login", {"email": email, "password": password})
    assert path_of(v) == "/account", v.page.url


def open_details(v, summary):
    v.page.click(f"summary:has-text('{summary}')")


def test_a_password_change_signs_out_the_other_browser_and_sends_a_notice(gh, visit):
    email = new_email("change")
    api_signup(gh, email)
    other = visit()
    sign_in(other, email)
    v = visit()
    sign_in(v, email)
    open_details(v, "Change password")
    v.page.fill("#current_password", "not my password")
    v.page.fill("#new_password", "a newer and longer passphrase")
    submit(v, "form[action='/account/password'] button")
    expect(v.page.locator("#current_password-error")).to_have_text("The current password is not right.")
    v.page.fill("#current_password", PASSWORD)
    v.page.fill("#new_password", "a newer and longer passphrase")
    submit(v, "form[action='/account/password'] button")
    expect(v.page.locator(".notice")).to_contain_text("Your password is changed")
    other.go("/account")
    assert path_of(other) == "/login", "the other browser is signed out"
    notice = gh.mail_to(email, "password was changed")
    assert "Chrome on Linux" in notice and "127.0.0.1" in notice and "/forgot-password" in notice, notice
    v.go("/account")
    assert path_of(v) == "/account", "the browser that changed it stays signed in"


def test_an_email_change_is_confirmed_from_the_new_inbox_and_undone_from_the_old(gh, visit):
    old, new = new_email("old"), new_email("new")
    api_signup(gh, old)
    v = visit()
    sign_in(v, old)
    open_details(v, "Change your email address")
    v.page.fill("#new_email", new)
    v.page.fill("#email_password", PASSWORD)
    submit(v, "form[action='/account/email'] button")
    expect(v.page.locator(".notice")).to_contain_text("A confirmation link is on its way")
    expect(v.page.locator(".pending")).to_contain_text(new)

    v.go(gh.link_for(new, "/email-change"))
    expect(v.page.locator("h1")).to_have_text("Confirm your new email address")
    submit(v)
    expect(v.page.locator(".notice")).to_contain_text("Your email address is changed")
    expect(v.page.locator(".profile")).to_contain_text(new)
    submit(v, "form.signout button")
    sign_in(v, new)

    # The old inbox undoes it: the old address is back, everyone is out, a reset link is mailed.
    u = visit()
    u.go(gh.link_for(old, "/email-change/undo"))
    expect(u.page.locator("h1")).to_have_text("Undo the change of address")
    submit(u, "button.danger")
    assert path_of(u) == "/login"
    expect(u.page.locator(".notice")).to_contain_text("The change is undone")
    v.go("/account")
    assert path_of(v) == "/login", "whoever changed the address is signed out"
    u.go(gh.link_for(old, "/reset-password"))
    u.page.fill("#password", "a brand new passphrase for me")
    submit(u)
    sign_in(u, old, "a brand new passphrase for me")


def test_a_breached_password_is_refused_at_sign_up(gh, visit):
    v = visit()
    fill_and_submit(v, "/signup", {"email": new_email("breached"), "password": "correct horse battery staple"})
    assert path_of(v) == "/signup"
    expect(v.page.locator("#password-error")).to_contain_text("leaked in data breaches")
    v.page.fill("#password", PASSWORD)
    submit(v)
    assert path_of(v) == "/account"


def test_a_sign_in_from_a_new_device_is_told_once(gh, visit):
    email = new_email("device")
    api_signup(gh, email)
    laptop = visit()
    sign_in(laptop, email)
    first = gh.mail_to(email, "New sign-in")
    assert "Chrome on Linux" in first and "/account" in first, first
    submit(laptop, "form.signout button")
    sign_in(laptop, email)
    phone = visit(user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1")
    sign_in(phone, email)
    second = gh.mail_to(email, "New sign-in")
    assert "Safari on iPhone" in second, second
    time.sleep(0.5)
    assert len(gh.mails_to(email, "New sign-in")) == 2, "the laptop's second sign-in was recognised by its cookie"


def test_a_workspace_is_created_and_a_newcomer_invited_signs_up_into_it(gh, visit):
    owner, newcomer = new_email("lead"), new_email("newcomer")
    api_signup(gh, owner)
    o = visit()
    sign_in(o, owner)
    o.page.fill("#workspace_name", "Green team")
    submit(o, "form[action='/account/workspaces'] button")
    expect(o.page.locator("h1")).to_have_text("Green team")
    workspace_path = path_of(o)
    o.page.fill("#email", newcomer)
    o.page.select_option("#invite-role", "admin")
    submit(o, "form[action$='/invitations'] button")
    expect(o.page.locator("section[aria-labelledby=invitations]")).to_contain_text(newcomer)

    n = visit()
    n.go(gh.link_for(newcomer, "/invitation"))
    assert path_of(n) == "/login", "signed out: sign in or sign up first"
    with n.page.expect_navigation():
        n.page.click("text=Create one")
    n.page.fill("#email", newcomer)
    n.page.fill("#password", PASSWORD)
    submit(n)
    assert path_of(n) == "/invitation", "sign-up leads back to the invitation"
    expect(n.page.locator("dl.profile")).to_contain_text("Green team")
    submit(n)
    expect(n.page.locator(".notice")).to_have_text("You joined the workspace.")
    expect(n.page.locator("section[aria-labelledby=workspaces]")).to_contain_text("Green team")
    assert whoami(n).json()["user"]["email_verified"] is True, "accepting proved the address"

    o.go(workspace_path)
    expect(o.page.locator("section[aria-labelledby=members]")).to_contain_text(newcomer)
    audit = visit(bypass_csp=True)
    sign_in(audit, owner)
    audit.go(workspace_path)
    assert_accessible(audit, workspace_path)
