"""The console's pages: every action through the services the API uses, escaped output."""

from __future__ import annotations

import json
import re

from tests.admin.console.conftest import csrf_of, sign_in
from tests.fixtures_admin import AdminHarness


def _key(live, account: str = "acme") -> str:
    services = live.app.admin_app.state.services

    async def make() -> str:
        return (await services.accounts.create_key(await services.accounts.ensure(account))).secret

    return live.call(make)


def post(client, path: str, **data: str):
    token = csrf_of(client.get("/domains").text)
    return client.post(path, data={**data, "csrf_token": token})


def domain_id(client, name: str) -> int:
    found = re.search(rf'href="/domains/(\d+)">{re.escape(name)}<', client.get("/domains").text)
    assert found
    return int(found.group(1))


def test_adding_a_domain_shows_the_exact_cname_record_and_dig_command(
    admin: AdminHarness, browser
):
    answer = post(browser, "/domains", domain="Click.Example.com", secure="on")
    assert answer.status_code == 303
    page = browser.get(answer.headers["location"]).text
    services = admin.live.app.admin_app.state.services
    account = admin.live.call(lambda: services.accounts.by_name("acme"))
    target = f"{account.cname_label}.edge.test"  # the account's own target
    assert f'<pre id="record" class="record">click.example.com. CNAME {target}.</pre>' in page
    assert '<pre id="dig">dig +short CNAME click.example.com</pre>' in page
    assert 'data-copy="record"' in page


def test_a_refused_domain_shows_the_services_reason(browser):
    answer = post(browser, "/domains", domain="denied.example")
    assert answer.status_code == 400
    assert 'class="error" role="alert"' in answer.text


def test_verify_shows_the_readable_failure_reason(admin: AdminHarness, browser):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    post(browser, f"/domains/{ident}/verify")
    page = browser.get(f"/domains/{ident}").text
    assert '<span id="cname-reason">no such name: click.example.com</span>' in page
    assert "CNAME: invalid" in page


def test_a_verified_domain_asks_for_its_certificate_and_polls_while_provisioning(
    admin: AdminHarness, browser
):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    admin.cname.point("click.example.com")
    assert post(browser, f"/domains/{ident}/verify").status_code == 303
    assert ("provision", ident, False) in admin.provisioner.calls
    badges = browser.get(f"/domains/{ident}/badges").text
    assert "CNAME: valid" in badges
    assert "SSL: provisioning" in badges
    assert f'hx-get="/domains/{ident}/badges" hx-trigger="every 2s"' in badges


def test_rename_and_delete(browser):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    assert post(browser, f"/domains/{ident}/rename", domain="go.example.com").status_code == 303
    assert domain_id(browser, "go.example.com") == ident
    assert post(browser, f"/domains/{ident}/delete").headers["location"] == "/domains"
    assert "go.example.com" not in browser.get("/domains").text.split("<h2>Add")[0]


def test_delete_is_refused_with_the_reason_while_a_sending_domain_uses_it(
    admin: AdminHarness, browser
):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    services = admin.live.app.admin_app.state.services

    async def sender() -> None:
        account = await services.accounts.by_name("acme")
        await services.sending.create(account, "mail.example.com", ident)

    admin.live.call(sender)
    answer = post(browser, f"/domains/{ident}/delete")
    assert answer.status_code == 409
    assert "mail.example.com" in re.search(r'role="alert">([^<]*)<', answer.text).group(1)


def test_another_accounts_domain_is_not_found(admin: AdminHarness, browser, new_client):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    other = new_client()
    sign_in(other, admin.key("other"))
    assert other.get(f"/domains/{ident}").status_code == 404
    assert post(other, f"/domains/{ident}/delete").status_code == 404


def test_an_action_no_button_makes_is_not_found(browser):
    post(browser, "/domains", domain="click.example.com")
    ident = domain_id(browser, "click.example.com")
    answer = post(browser, f"/domains/{ident}/transfer")
    assert (answer.status_code, "Not found." in answer.text) == (404, True)
    assert browser.get(f"/domains/{ident}").status_code == 200


def test_an_id_past_what_the_database_holds_is_not_found(browser):
    for path in ("/domains/99999999999999999999999", "/domains/99999999999999999999999/badges"):
        assert browser.get(path).status_code == 404
    assert post(browser, "/domains/99999999999999999999999/delete").status_code == 404


def test_html_in_a_domain_name_or_label_is_shown_as_text(browser):
    answer = post(browser, "/keys", label="<script>alert(1)</script>")
    assert answer.status_code == 201
    assert "<script>alert(1)</script>" not in answer.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


def test_a_new_key_is_shown_once_and_can_be_revoked(admin: AdminHarness, browser, new_client):
    answer = post(browser, "/keys", label="ci")
    secret = re.search(r'<pre id="secret">([0-9a-f]+)</pre>', answer.text).group(1)
    assert secret not in browser.get("/keys").text
    other = new_client()
    assert sign_in(other, secret).status_code == 303
    key_id = int(re.findall(r'action="/keys/(\d+)/revoke"', browser.get("/keys").text)[-1])
    assert post(browser, f"/keys/{key_id}/revoke").headers["location"] == "/keys"
    assert other.get("/domains").headers["location"] == "/"


def test_operator_pages_are_refused_to_an_accounts_key(browser):
    assert browser.get("/accounts").status_code == 403
    assert post(browser, "/accounts", name="evil").status_code == 403


def test_the_operator_creates_accounts_and_blocks_domains(admin: AdminHarness, new_client):
    services = admin.live.app.admin_app.state.services

    async def operator_key() -> str:
        account = await services.accounts.ensure("platform")
        return (await services.accounts.create_key(account, operator=True)).secret

    client = new_client()
    sign_in(client, admin.live.call(operator_key))
    assert post(client, "/accounts", name="<b>newco</b>").status_code == 303
    assert "&lt;b&gt;newco&lt;/b&gt;" in client.get("/accounts").text
    post(client, "/domains", domain="click.example.com")
    post(client, "/accounts/compliance", domain="click.example.com", action="block")
    assert "compliance: blocked" in client.get("/domains").text


def test_the_dashboard_counts_and_charts_events(admin: AdminHarness, browser):
    page = browser.get("/dashboard?range=24h")
    assert page.status_code == 200
    assert '<dd id="t-clicks">0</dd>' in page.text
    chart = browser.get("/dashboard/chart.json?range=24h").json()
    assert len(chart["time"]) == 25  # the range widened to whole hours
    assert sorted(chart) == ["clicks", "machine_clicks", "machine_opens", "opens", "time"]
    assert browser.get("/dashboard/tail").text.strip() == "<p>No events yet.</p>"


def test_a_webhooks_secret_is_shown_once_and_a_test_batch_reports_the_outcome(
    admin_settings, make_server, make_webhook_receiver, new_client_of
):
    from dataclasses import replace

    live = make_server(replace(admin_settings, webhook_allow_networks=("127.0.0.0/8",)))
    receiver = make_webhook_receiver()
    client = new_client_of(live)
    sign_in(client, _key(live))
    created = post(client, "/webhooks", url=receiver.url, type_click="on")
    assert created.status_code == 201
    secret = re.search(r'<pre id="secret">([^<]+)</pre>', created.text).group(1)
    assert secret not in client.get("/webhooks").text
    ident = re.search(r'action="/webhooks/(\d+)/test"', created.text).group(1)
    tested = post(client, f"/webhooks/{ident}/test")
    assert "The test batch was delivered." in tested.text
    (request,) = receiver.requests
    assert json.loads(request.body)["test"] is True
    receiver.mode = "down"
    failed = post(client, f"/webhooks/{ident}/test")
    assert "The test failed: HTTP 503" in failed.text


def test_privacy_switches_are_changed_through_the_engagement_service(admin: AdminHarness, browser):
    answer = post(browser, "/privacy", client_ip="none", user_agent="full", track_clicks="on")
    assert answer.status_code == 200
    engagement = admin.live.app.admin_app.state.engagement
    account = admin.live.call(
        lambda: admin.live.app.admin_app.state.services.accounts.by_name("acme")
    )
    settings = admin.live.call(lambda: engagement.privacy(account.id))
    assert (settings.client_ip, settings.track_opens, settings.track_clicks) == (
        "none",
        False,
        True,
    )
    assert post(browser, "/privacy", client_ip="bogus", user_agent="full").status_code == 400


def test_the_rewrite_page_shows_the_wrapped_html_and_the_link_report(browser):
    html = '<a href="https://shop.example/a" data-link-name="<b>hero</b>">Buy</a>'
    answer = post(browser, "/rewrite", html=html, track_clicks="on", track_opens="on")
    assert answer.status_code == 200
    assert "http://track.test/" in answer.text
    assert "<td>&lt;b&gt;hero&lt;/b&gt;</td><td>https://shop.example/a</td><td>yes</td>" in (
        answer.text
    )
