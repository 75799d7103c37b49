"""Signing in to the console: the cookie, sessions, CSRF, the sign-in limit, the headers."""

from __future__ import annotations

from dataclasses import replace

from admin.server import create_app
from tests.admin.console.conftest import csrf_of, sign_in
from tests.conftest import start_server
from tests.fixtures_admin import AdminHarness, FakeCname, FakeReach, RecordingProvisioner


def test_the_sign_in_form_is_served_at_the_root_of_the_admin_host(new_client, admin: AdminHarness):
    answer = new_client().get("/")
    assert answer.status_code == 200
    assert '<label for="api_key">API key</label>' in answer.text
    assert answer.headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        "frame-ancestors 'none'"
    )
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


def test_the_console_is_not_served_on_a_tracking_host(new_client, admin: AdminHarness):
    for host in ("track.test", "click.example.com"):
        answer = new_client(host).get("/domains")
        assert "API key" not in answer.text
        assert answer.status_code == 404


def test_a_valid_key_signs_in_with_a_strict_http_only_cookie(new_client, admin: AdminHarness):
    client = new_client()
    answer = sign_in(client, admin.key("acme"))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/domains"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("console_session=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/", "max-age=28800"} <= attributes
    assert "secure" not in attributes  # plain HTTP here; set over HTTPS
    assert client.get("/domains").status_code == 200


def test_a_wrong_key_is_refused_and_signs_nobody_in(new_client, admin: AdminHarness):
    client = new_client()
    answer = sign_in(client, "0" * 40)
    assert answer.status_code == 401
    assert "That API key is not valid." in answer.text
    assert "console_session" not in answer.headers.get("set-cookie", "")
    assert client.get("/domains").headers["location"] == "/"


def test_the_key_is_never_in_a_url_of_the_console(new_client, admin: AdminHarness):
    client = new_client()
    key = admin.key("acme")
    answer = sign_in(client, key)
    assert key not in answer.headers["location"]
    assert key not in client.get("/domains").text


def test_a_sign_in_without_its_csrf_token_is_refused(new_client, admin: AdminHarness):
    client = new_client()
    client.get("/")
    answer = client.post("/signin", data={"api_key": admin.key("acme")})
    assert answer.status_code == 403
    assert "console_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_attempts_are_limited_per_client(admin_settings, tmp_path):
    settings = replace(admin_settings, console_signin_limit=3)
    app = create_app(
        settings, cname=FakeCname(), reach=FakeReach(), provisioner=RecordingProvisioner()
    )
    live = start_server(app)
    try:
        client = live.client("admin.test")
        statuses = [sign_in(client, "0" * 40).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert "Too many sign-in attempts" in sign_in(client, "0" * 40).text
        client.close()
    finally:
        live.stop()


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(admin_settings):
    settings = replace(admin_settings, console_signin_limit=1, trusted_proxies=("127.0.0.1/32",))
    app = create_app(
        settings, cname=FakeCname(), reach=FakeReach(), provisioner=RecordingProvisioner()
    )
    live = start_server(app)
    try:
        statuses = []
        for client_address in ("203.0.113.1", "203.0.113.1", "203.0.113.2"):
            with live.client("admin.test") as client:
                client.headers["x-forwarded-for"] = client_address
                statuses.append(sign_in(client, "0" * 40).status_code)
        assert statuses == [401, 429, 401]
    finally:
        live.stop()


def test_sign_out_ends_the_session_on_the_server(browser):
    stolen = dict(browser.cookies)
    token = csrf_of(browser.get("/domains").text)
    answer = browser.post("/signout", data={"csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    browser.cookies.clear()
    for name, value in stolen.items():
        browser.cookies.set(name, value)
    assert browser.get("/domains").headers["location"] == "/"


def test_a_post_without_the_csrf_token_is_refused(browser):
    answer = browser.post("/domains", data={"domain": "nocsrf.example.com"})
    assert answer.status_code == 403
    assert "did not come from the console" in answer.text
    assert "nocsrf.example.com" not in browser.get("/domains").text


def test_a_post_with_another_sessions_token_is_refused(new_client, admin: AdminHarness, browser):
    other = new_client()
    sign_in(other, admin.key("acme"))
    foreign = csrf_of(other.get("/domains").text)
    answer = browser.post("/domains", data={"domain": "click.example.com", "csrf_token": foreign})
    assert answer.status_code == 403


def test_a_revoked_key_ends_its_sessions(admin: AdminHarness, browser):
    services = admin.live.app.admin_app.state.services

    async def revoke_all() -> None:
        account = await services.accounts.by_name("acme")
        for key in await services.accounts.list_keys(account):
            await services.accounts.revoke(key.id)

    admin.live.call(revoke_all)
    assert browser.get("/domains").headers["location"] == "/"


def test_a_forged_cookie_is_not_a_session(new_client, admin: AdminHarness):
    client = new_client()
    client.cookies.set("console_session", "abc.def.ghi")
    assert client.get("/domains").headers["location"] == "/"


def test_an_htmx_request_without_a_session_is_told_to_go_to_the_sign_in_form(
    new_client, admin: AdminHarness
):
    answer = new_client().get("/dashboard/tail", headers={"hx-request": "true"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/"


def test_the_consoles_routes_are_not_in_the_openapi_document(new_client, admin: AdminHarness):
    paths = new_client().get("/api/v1/openapi.json").json()["paths"]
    console = ("/", "/signin", "/domains", "/dashboard", "/keys", "/accounts")
    assert [p for p in paths if p in console or p.startswith(console[2:])] == []
