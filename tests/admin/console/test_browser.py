"""The console in a real browser (Debian's chromium driven by Playwright): sign in, add a
domain, read its CNAME, set it in the loopback DNS server, verify, watch SSL become active
(the local CA), see clicks and opens in the chart and the tail, create and revoke a key, sign
out; a script in a link name shows as text; a form posted without its CSRF token is refused.

A screenshot of each page goes to ``$EDGE_SCREENSHOTS_DIR`` (else the test's tmp dir);
``docs/screenshots`` holds the README's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge.model.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import free_port
from tests.fixtures_https import HttpsLive, client_context

DOMAIN = "click.brand.test"
TARGET = "edge.test"
ADMIN = "admin.test"
NASTY = "<script>alert('x')</script>"
PERSON = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # admin.test is this server: the browser never asks a real resolver.
    f"--host-resolver-rules=MAP {ADMIN} 127.0.0.1",
]


@pytest.fixture
def live(settings, dns_server, make_https_server) -> HttpsLive:
    http_port, https_port = free_port(), free_port()
    config = replace(
        settings,
        cname_target=TARGET,
        verify_port=http_port,
        https_verify_port=https_port,
        dns_nameservers=(dns_server.nameserver,),
        dns_timeout=2.0,
    )
    dns_server.set_a(TARGET, "127.0.0.1")
    return make_https_server(config, full=True, http_port=http_port, https_port=https_port)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("EDGE_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _key(live: HttpsLive) -> str:
    services = live.app.admin_app.state.services
    account = live.call(lambda: services.accounts.ensure("acme"))
    return live.call(lambda: services.accounts.create_key(account, "console")).secret


def _engage(live: HttpsLive, account_id: int) -> None:
    """Two clicks (one on a link named with a script) and an open over HTTPS, stored; each
    of its own message (two links clicked at once in one message are a scanner's)."""
    links = LinkBuilder(live.app.runtime.codec, 80, live.https_port)
    host = TrackingHost(DOMAIN, account_id, True, True)
    root = (live.settings.data_dir / "local-ca" / "root.pem").read_text()
    urls = [
        links.click_url(host, account_id, "https://shop.test/a", message="m1", link=NASTY),
        links.click_url(host, account_id, "https://shop.test/b", message="m2", link="hero"),
        links.open_url(host, account_id, message="m3"),
    ]
    with httpx.Client(verify=client_context(root), trust_env=False) as client:
        for url in urls:
            answer = client.get(
                f"https://127.0.0.1:{live.https_port}{httpx.URL(url).raw_path.decode()}",
                headers={"host": DOMAIN, "user-agent": PERSON},
                extensions={"sni_hostname": DOMAIN},
            )
            assert answer.status_code in (200, 302)
    live.call(live.app.runtime.drain)


def _wait_ssl_active(page: Page, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.locator("#ssl-status").inner_text() == "active":
            return
        page.wait_for_timeout(300)
        page.reload()
    raise AssertionError("SSL did not become active")


def test_the_console_in_a_browser(live: HttpsLive, browser: Browser, dns_server, shots: Path):
    key = _key(live)
    base = f"http://{ADMIN}:{live.http_port}"
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else 0)

    # Sign in.
    page.goto(base + "/")
    page.screenshot(path=shots / "signin.png")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/domains")
    cookie = next(c for c in context.cookies() if c["name"] == "console_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")

    # Add a domain; read its CNAME; set it in DNS; verify; SSL becomes active.
    page.get_by_label("Domain name").fill(DOMAIN)
    page.get_by_role("button", name="Add").click()
    domain_id = page.url.rsplit("/", 1)[1]
    record = page.locator("#record").inner_text()
    name, kind, target = record.split()
    # The account's own name under the CNAME target (the operator's wildcard points there).
    assert (name, kind, target.endswith(f".{TARGET}.")) == (f"{DOMAIN}.", "CNAME", True)
    dns_server.set_a(target.rstrip("."), "127.0.0.1")
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator("#cname-reason")).to_contain_text(DOMAIN)  # the failure, readable
    dns_server.set_cname(name.rstrip("."), target.rstrip("."))
    page.get_by_role("button", name="Verify now").click()
    expect(page.locator(".badge.cname-valid")).to_be_visible()
    _wait_ssl_active(page)
    page.screenshot(path=shots / "domain.png", full_page=True)
    page.goto(base + "/domains")
    expect(page.locator(".badge.ssl-active")).to_be_visible()
    page.screenshot(path=shots / "domains.png", full_page=True)

    # Clicks and opens appear in the chart and the tail; the script in a link name is text.
    services = live.app.admin_app.state.services
    account = live.call(lambda: services.accounts.by_name("acme"))
    _engage(live, account.id)
    page.goto(base + "/dashboard?range=24h")
    expect(page.locator("#t-clicks")).to_have_text("2")
    expect(page.locator("#chart canvas")).to_be_visible()
    expect(page.locator("#chart")).to_have_attribute("data-total", "3")
    expect(page.locator("#tail table")).to_be_visible()
    expect(page.locator("#tail")).to_contain_text(NASTY)
    expect(page.locator("#top-links")).to_contain_text(NASTY)
    page.screenshot(path=shots / "dashboard.png", full_page=True)

    # Create a key (shown once) and revoke it.
    page.goto(base + "/keys")
    page.get_by_label("Label").fill("deploy")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret").inner_text()
    assert len(secret) == 40
    page.screenshot(path=shots / "keys.png", full_page=True)
    page.goto(base + "/keys")
    assert secret not in page.content()
    row = page.locator("tr", has_text="deploy")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="deploy")).to_contain_text("revoked")

    # The other pages, keyboard first: a labelled field, typed into, submitted with Enter.
    page.goto(base + "/rewrite")
    page.get_by_label("HTML").fill('<a href="https://shop.test/" data-link-name="buy">Buy</a>')
    page.get_by_label("Tracking domain").select_option(DOMAIN)
    page.get_by_label("Message id").fill("m-9")
    page.get_by_label("Message id").press("Enter")
    expect(page.locator("#links")).to_contain_text("buy")
    expect(page.locator("#rewritten")).to_contain_text(f"https://{DOMAIN}")
    page.screenshot(path=shots / "rewrite.png", full_page=True)
    for path in ("/webhooks", "/privacy"):
        page.goto(base + path)
        page.screenshot(path=shots / f"{path[1:]}.png", full_page=True)

    # A form posted without the CSRF token is refused.
    page.goto(base + "/keys")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_label("Label").fill("forged")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("h1")).to_have_text("Refused")
    page.goto(base + "/keys")
    assert "forged" not in page.content()

    # Readable at a phone's width: no page scrolls sideways (wide tables scroll in place).
    page.set_viewport_size({"width": 390, "height": 844})
    for path in (f"/domains/{domain_id}", "/dashboard?range=24h", "/keys", "/webhooks"):
        page.goto(base + path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, (path, wide)
    page.screenshot(path=shots / "dashboard-phone.png", full_page=True)

    # Sign out: the console is behind the sign-in form again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(base + "/")
    page.goto(base + "/domains")
    expect(page).to_have_url(base + "/")

    assert dialogs == []  # no script ran from a link name
    assert csp_errors == []  # nothing inline was refused by the policy
    context.close()
