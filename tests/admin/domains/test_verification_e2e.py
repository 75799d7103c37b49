"""Domain verification end to end: a real uvicorn server, the admin API, a real DNS server.

create → add the CNAME → verify → a click URL on the domain redirects; the reasons a customer
sees when it is wrong; delete or a lost CNAME → the domain is no longer served within 1 s.
The reachability check fetches the proof from this very server (``EDGE_VERIFY_PORT`` is its
port, the CNAME target's A record is 127.0.0.1).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
import pytest

from admin.accounts.service import Account
from admin.services import AdminServices
from edge.config import Settings
from edge.serving.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import LiveServer, free_port
from tests.fixtures_dns import DNSServer

DOMAIN = "track.brand.test"
TARGET = "edge.test"
LANDING = "http://shop.example/landing?id=7"
SPARKPOST = "/api/v1/tracking-domains"
CUSTOMER = "/api/v1/customer/tracking-domains"


@dataclass
class Stack:
    live: LiveServer
    dns: DNSServer
    services: AdminServices
    account: Account
    admin: httpx.Client

    def click_url(self, domain: str = DOMAIN) -> str:
        """A click URL signed for this account on ``domain``, as the rewriter would build it."""
        links = LinkBuilder(self.live.app.runtime.codec, http_port=self.live.port)
        host = TrackingHost(domain, self.account.id, secure=False, served=True)
        return links.click_url(host, self.account.id, LANDING, message="m-1")

    def click(self, url: str) -> httpx.Response:
        """Request ``url`` from this server (whatever its host says), with its ``Host``."""
        parsed = httpx.URL(url)
        with httpx.Client(follow_redirects=False, trust_env=False) as client:
            return client.get(
                f"{self.live.url}{parsed.raw_path.decode()}",
                headers={"host": f"{parsed.host}:{parsed.port}"},
            )

    def click_until(
        self, url: str, status: int, within: float = 1.0
    ) -> tuple[httpx.Response, float]:
        """Poll ``url`` until it answers ``status``; the answer and how long that took."""
        started = time.monotonic()
        while True:
            response = self.click(url)
            elapsed = time.monotonic() - started
            if response.status_code == status or elapsed > within:
                return response, elapsed
            time.sleep(0.02)

    def verify(self) -> httpx.Response:
        return self.admin.post(f"{SPARKPOST}/{DOMAIN}/verify")

    def customer_view(self) -> dict:
        (found,) = self.admin.get(CUSTOMER).json()["data"]
        return found


def start(make_server, settings: Settings, dns_server: DNSServer, **changes) -> Stack:
    port = free_port()
    fields = {
        "cname_target": TARGET,
        "dns_nameservers": (dns_server.nameserver,),
        "dns_timeout": 1.0,
        "verify_port": port,
    }
    configured = replace(settings, **(fields | changes))
    live = make_server(configured, port=port)
    services: AdminServices = live.app.admin_app.state.services
    account = live.call(lambda: services.accounts.ensure("acme"))
    key = live.call(lambda: services.accounts.create_key(account)).secret
    admin = httpx.Client(
        base_url=live.url,
        headers={"host": configured.admin_host, "authorization": key},
        trust_env=False,
    )
    dns_server.set_a(TARGET, "127.0.0.1")
    return Stack(live, dns_server, services, account, admin)


@pytest.fixture
def make_stack(make_server, settings, dns_server):
    """Factory: ``make_stack(**settings_changes)``; admin clients are closed after the test."""
    stacks: list[Stack] = []

    def make(**changes) -> Stack:
        stack = start(make_server, settings, dns_server, **changes)
        stacks.append(stack)
        created = stack.admin.post(SPARKPOST, json={"domain": DOMAIN})
        assert (created.status_code, created.json()) == (200, {"results": {"domain": DOMAIN}})
        return stack

    yield make
    for stack in stacks:
        stack.admin.close()


@pytest.fixture
def stack(make_stack) -> Stack:
    """A server whose account ``acme`` has created ``track.brand.test`` (not yet verified)."""
    return make_stack()


def verified(stack: Stack) -> Stack:
    stack.dns.set_cname(DOMAIN, TARGET)
    response = stack.verify()
    assert response.status_code == 200, response.text
    return stack


def test_created_domain_is_not_served_before_verification(stack):
    assert stack.click(stack.click_url()).status_code == 404


def test_verified_domain_redirects_clicks_within_a_second(stack):
    stack.dns.set_cname(DOMAIN, TARGET)
    response = stack.verify()
    assert (response.status_code, response.json()) == (
        200,
        {"results": {"verified": True, "cname_status": "valid", "compliance_status": "valid"}},
    )
    click, elapsed = stack.click_until(stack.click_url(), 302)
    assert (click.status_code, click.headers["location"]) == (302, LANDING)
    assert elapsed <= 1.0
    view = stack.customer_view()
    assert (view["verification_status"], view["verification_reason"]) == (
        "valid",
        f"CNAME points to {TARGET}",
    )


def test_verification_through_a_cname_chain(stack):
    stack.dns.set_cname(DOMAIN, "hop.cdn.test")
    stack.dns.set_cname("hop.cdn.test", TARGET)
    assert stack.verify().json()["results"]["verified"] is True
    click, _ = stack.click_until(stack.click_url(), 302)
    assert click.headers["location"] == LANDING


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ({}, f"no such name: {DOMAIN}"),
        ({"a": "192.0.2.10"}, f"no CNAME record for {DOMAIN}; it has an A record: 192.0.2.10"),
        (
            {"cname": "other.example"},
            f"CNAME points to other.example instead of {TARGET}; other.example does not exist",
        ),
    ],
)
def test_wrong_dns_is_invalid_with_the_reason(stack, records, reason):
    if "a" in records:
        stack.dns.set_a(DOMAIN, records["a"])
    if "cname" in records:
        stack.dns.set_cname(DOMAIN, records["cname"])
    response = stack.verify()
    assert (response.status_code, response.json()) == (
        200,
        {"results": {"verified": False, "cname_status": "invalid", "compliance_status": "pending"}},
    )
    view = stack.customer_view()
    assert (view["verified"], view["verification_status"], view["verification_reason"]) == (
        False,
        "invalid",
        reason,
    )
    assert stack.click(stack.click_url()).status_code == 404


def test_resolver_timeout_is_invalid_within_the_bound(stack):
    stack.dns.stop_answering()
    started = time.monotonic()
    response = stack.verify()
    assert time.monotonic() - started < 2.0
    assert response.json()["results"]["cname_status"] == "invalid"
    assert stack.customer_view()["verification_reason"] == "DNS resolver timed out after 1.0 s"


def test_domain_is_pending_while_it_is_checked(stack):
    stack.dns.stop_answering()  # the check now takes the whole 1 s DNS timeout
    with ThreadPoolExecutor(1) as pool:
        verifying = pool.submit(stack.verify)
        deadline = time.monotonic() + 1.0
        seen = stack.customer_view()["verification_status"]
        while seen != "pending" and time.monotonic() < deadline:
            time.sleep(0.02)
            seen = stack.customer_view()["verification_status"]
        assert seen == "pending"
        assert verifying.result(5).json()["results"]["cname_status"] == "invalid"


def test_unreachable_domain_is_error_1404(make_stack, dns_server):
    # The CNAME is right, but nothing listens on the verify port.
    closed = free_port()
    stack = make_stack(verify_port=closed)
    dns_server.set_cname(DOMAIN, TARGET)
    response = stack.verify()
    assert (response.status_code, response.json()) == (
        400,
        {
            "errors": [
                {
                    "code": "1404",
                    "message": "request to remote endpoint failed",
                    "description": f"Unable to reach http://{DOMAIN}:{closed}. "
                    "Please verify that your redirect is functioning.",
                }
            ]
        },
    )
    view = stack.customer_view()
    assert (view["verification_status"], view["verification_reason"]) == (
        "invalid",
        f"could not connect to 127.0.0.1:{closed}",
    )
    assert stack.click(stack.click_url()).status_code == 404


def test_customer_dialect_verifies_by_id(stack):
    stack.dns.set_cname(DOMAIN, TARGET)
    domain_id = stack.customer_view()["id"]
    response = stack.admin.post(f"{CUSTOMER}/{domain_id}/verify")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["verified"], data["verification_status"], data["verification_reason"]) == (
        True,
        "valid",
        f"CNAME points to {TARGET}",
    )


def test_deleted_domain_stops_redirecting_within_a_second(stack):
    verified(stack)
    url = stack.click_url()
    assert stack.click_until(url, 302)[0].status_code == 302
    assert stack.admin.delete(f"{SPARKPOST}/{DOMAIN}").status_code == 204
    response, elapsed = stack.click_until(url, 404)
    assert response.status_code == 404
    assert elapsed <= 1.0


def test_recheck_after_the_cname_is_removed_withdraws_the_domain(stack):
    verified(stack)
    url = stack.click_url()
    assert stack.click_until(url, 302)[0].status_code == 302
    stack.dns.clear(DOMAIN)
    domains = stack.services.domains
    assert stack.live.call(lambda: domains.recheck_due(0)) == 1
    view = stack.customer_view()
    assert (view["verified"], view["verification_status"], view["verification_reason"]) == (
        False,
        "invalid",
        f"no such name: {DOMAIN}",
    )
    response, elapsed = stack.click_until(url, 404)
    assert response.status_code == 404
    assert elapsed <= 1.0


def test_recheck_during_a_resolver_outage_keeps_the_domain(stack):
    verified(stack)
    url = stack.click_url()
    assert stack.click_until(url, 302)[0].status_code == 302
    stack.dns.stop_answering()
    domains = stack.services.domains
    assert stack.live.call(lambda: domains.recheck_due(0)) == 1
    view = stack.customer_view()
    assert (view["verified"], view["verification_reason"]) == (
        True,
        "DNS resolver timed out after 1.0 s",
    )
    assert stack.click(url).status_code == 302


def test_recheck_with_the_cname_still_there_keeps_the_domain(stack):
    verified(stack)
    domains = stack.services.domains
    assert stack.live.call(lambda: domains.recheck_due(0)) == 1
    assert stack.customer_view()["verification_status"] == "valid"
    assert stack.click_until(stack.click_url(), 302)[0].status_code == 302


def test_scheduled_recheck_withdraws_a_domain_whose_cname_is_gone(make_stack):
    stack = verified(make_stack(recheck_interval=0.2))
    url = stack.click_url()
    assert stack.click_until(url, 302)[0].status_code == 302
    stack.dns.clear(DOMAIN)
    # Check times are whole seconds, so the loop sees the domain due within about 1.2 s.
    response, _ = stack.click_until(url, 404, within=3.0)
    assert response.status_code == 404
    view = stack.customer_view()
    assert (view["verification_status"], view["verification_reason"]) == (
        "invalid",
        f"no such name: {DOMAIN}",
    )
