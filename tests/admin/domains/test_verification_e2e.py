"""Domain verification end to end: a real uvicorn server, the admin API, a real DNS server.

create → add the CNAME to the account's target → verify → a click URL on the domain
redirects; the reasons a customer sees when it is wrong; delete or a lost CNAME → the domain is
no longer served within 1 s; a name proves one account only (no takeover, no squatting).
The reachability check fetches the proof from this very server (``EDGE_VERIFY_PORT`` is its
port; ``edge.test`` is 127.0.0.1 and every name below it a CNAME to it, the operator's
wildcard).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

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
    others: list[httpx.Client] = field(default_factory=list)

    @property
    def target(self) -> str:
        """The account's CNAME target, as the API tells the customer (``dns_record``)."""
        return str(self.customer_view()["dns_record"]["target"])

    def as_account(self, name: str) -> tuple[Account, httpx.Client]:
        """Another account on this server, and an admin client with a key of its own."""
        services = self.services
        account = self.live.call(lambda: services.accounts.ensure(name))
        key = self.live.call(lambda: services.accounts.create_key(account)).secret
        client = httpx.Client(
            base_url=self.live.url,
            headers={"host": self.admin.headers["host"], "authorization": key},
            trust_env=False,
        )
        self.others.append(client)
        return account, client

    def table_caught_up(self) -> None:
        """Every change so far is in the server's domain table (it polls within 0.05 s)."""
        self.live.call(lambda: self.live.app.runtime.domains.refresh(force=True))

    def click_url(self, domain: str = DOMAIN, account: Account | None = None) -> str:
        """A click URL signed for ``account`` (this stack's) on ``domain``, as the rewriter
        would build it."""
        signer = account or self.account
        links = LinkBuilder(self.live.app.runtime.codec, http_port=self.live.port)
        host = TrackingHost(domain, signer.id, secure=False, served=True)
        return links.click_url(host, signer.id, LANDING, message="m-1")

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
        return customer_view(self.admin)


def customer_view(admin: httpx.Client) -> dict:
    """The Mailerlogic view of the client's account's one tracking domain."""
    (found,) = admin.get(CUSTOMER).json()["data"]
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
    dns_server.set_cname(f"*.{TARGET}", TARGET)
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
        for client in stack.others:
            client.close()


@pytest.fixture
def stack(make_stack) -> Stack:
    """A server whose account ``acme`` has created ``track.brand.test`` (not yet verified)."""
    return make_stack()


def verified(stack: Stack) -> Stack:
    stack.dns.set_cname(DOMAIN, stack.target)
    response = stack.verify()
    assert response.status_code == 200, response.text
    return stack


def test_created_domain_is_not_served_before_verification(stack):
    assert stack.click(stack.click_url()).status_code == 404


def test_verified_domain_redirects_clicks_within_a_second(stack):
    stack.dns.set_cname(DOMAIN, stack.target)
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
        f"CNAME points to {stack.target}",
    )


def test_verification_through_a_cname_chain(stack):
    stack.dns.set_cname(DOMAIN, "hop.cdn.test")
    stack.dns.set_cname("hop.cdn.test", stack.target)
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
            "CNAME points to other.example instead of {target}; other.example does not exist",
        ),
    ],
)
def test_wrong_dns_is_invalid_with_the_reason(stack, records, reason):
    if "a" in records:
        stack.dns.set_a(DOMAIN, records["a"])
    if "cname" in records:
        stack.dns.set_cname(DOMAIN, records["cname"])
    reason = reason.format(target=stack.target)
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
    dns_server.set_cname(DOMAIN, stack.target)
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
    stack.dns.set_cname(DOMAIN, stack.target)
    domain_id = stack.customer_view()["id"]
    response = stack.admin.post(f"{CUSTOMER}/{domain_id}/verify")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["verified"], data["verification_status"], data["verification_reason"]) == (
        True,
        "valid",
        f"CNAME points to {stack.target}",
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


# -- who may use a name: the account that proves control, and only that one ----------------

NOT_VERIFIED = {"verified": False, "cname_status": "invalid", "compliance_status": "pending"}
VERIFIED = {"verified": True, "cname_status": "valid", "compliance_status": "valid"}


def test_a_cname_left_behind_by_a_deleted_domain_verifies_for_no_other_account(stack):
    """The issue's scenario: A verifies, deletes with the CNAME left in place; B creates the
    name and verifies it: not verified, and B's links never redirect on it."""
    a_target = stack.target
    verified(stack)
    assert stack.click_until(stack.click_url(), 302)[0].status_code == 302
    assert stack.admin.delete(f"{SPARKPOST}/{DOMAIN}").status_code == 204  # CNAME stays
    b, b_admin = stack.as_account("squatter")
    created = b_admin.post(SPARKPOST, json={"domain": DOMAIN})
    assert (created.status_code, created.json()) == (200, {"results": {"domain": DOMAIN}})
    b_target = customer_view(b_admin)["dns_record"]["target"]
    response = b_admin.post(f"{SPARKPOST}/{DOMAIN}/verify")
    assert (response.status_code, response.json()) == (200, {"results": NOT_VERIFIED})
    view = customer_view(b_admin)
    assert (view["verified"], view["verification_reason"]) == (
        False,
        f"CNAME points to {a_target} instead of {b_target}",
    )
    stack.table_caught_up()
    assert stack.click(stack.click_url(account=b)).status_code == 404
    assert stack.click(stack.click_url()).status_code == 404  # nor A's: A deleted it


def test_an_unverified_claim_keeps_no_account_from_proving_control(stack):
    """B claims the name first (unverified); A may still create it, verify it and use it."""
    b, b_admin = stack.as_account("squatter")
    assert stack.admin.delete(f"{SPARKPOST}/{DOMAIN}").status_code == 204
    assert b_admin.post(SPARKPOST, json={"domain": DOMAIN}).status_code == 200
    created = stack.admin.post(CUSTOMER, json={"domain": DOMAIN})
    assert created.status_code == 201, created.text
    stack.dns.set_cname(DOMAIN, created.json()["data"]["dns_record"]["target"])
    assert (stack.verify().status_code, stack.verify().json()) == (200, {"results": VERIFIED})
    click, _ = stack.click_until(stack.click_url(), 302)
    assert click.headers["location"] == LANDING
    # B's claim proves nothing: verifying it fails, and B's links do not redirect on the name.
    response = b_admin.post(f"{SPARKPOST}/{DOMAIN}/verify")
    assert (response.status_code, response.json()) == (200, {"results": NOT_VERIFIED})
    stack.table_caught_up()
    assert stack.click(stack.click_url(account=b)).status_code == 404
    assert stack.click(stack.click_url()).status_code == 302
    assert stack.customer_view()["verification_status"] == "valid"


def test_a_name_verified_by_one_account_is_409_for_another_in_both_dialects(stack):
    verified(stack)
    _, b_admin = stack.as_account("squatter")
    sparkpost = b_admin.post(SPARKPOST, json={"domain": DOMAIN})
    customer = b_admin.post(CUSTOMER, json={"domain": DOMAIN})
    assert (sparkpost.status_code, sparkpost.json()) == (
        409,
        {
            "errors": [
                {
                    "code": "1602",
                    "message": "resource conflict",
                    "description": "The tracking domain already exists.",
                }
            ]
        },
    )
    assert (customer.status_code, customer.json()) == (
        409,
        {
            "error": {
                "status": 409,
                "code": "conflict",
                "message": "The tracking domain already exists.",
            }
        },
    )


def test_proving_control_takes_the_name_from_the_account_that_had_it(stack):
    """B claimed the name while A had it unverified; A verified; then the CNAME moves to B's
    target (the name changed hands): B verifies and owns it, A's domain is withdrawn with
    the reason, and only B's links redirect there."""
    b, b_admin = stack.as_account("buyer")
    assert b_admin.post(SPARKPOST, json={"domain": DOMAIN}).status_code == 200
    verified(stack)
    stack.admin.put(f"{SPARKPOST}/{DOMAIN}", json={"default": True})
    assert stack.click_until(stack.click_url(), 302)[0].status_code == 302
    stack.dns.set_cname(DOMAIN, customer_view(b_admin)["dns_record"]["target"])
    response = b_admin.post(f"{SPARKPOST}/{DOMAIN}/verify")
    assert (response.status_code, response.json()) == (200, {"results": VERIFIED})
    click, elapsed = stack.click_until(stack.click_url(account=b), 302)
    assert (click.headers["location"], elapsed <= 1.0) == (LANDING, True)
    assert stack.click(stack.click_url()).status_code == 404
    view = stack.customer_view()
    assert (view["verified"], view["default"], view["ssl_status"], view["verification_reason"]) == (
        False,
        False,
        "unavailable",
        f"{DOMAIN} was verified by another account: its CNAME points to that account's target",
    )
    # A's re-verification finds B's target: A cannot take it back.
    again = stack.verify()
    assert (again.status_code, again.json()) == (
        200,
        {"results": {"verified": False, "cname_status": "invalid", "compliance_status": "valid"}},
    )
    assert customer_view(b_admin)["verified"] is True


def test_the_shared_target_keeps_a_verified_domain_but_verifies_none(stack):
    """Domains verified before each account had a target of its own point at EDGE_CNAME_TARGET
    itself: the re-check keeps them served, asking for the account's target; that CNAME never
    verifies a domain."""
    target = stack.target
    verified(stack)
    stack.dns.set_cname(DOMAIN, TARGET)
    domains = stack.services.domains
    assert stack.live.call(lambda: domains.recheck_due(0)) == 1
    asked = f"CNAME points to {TARGET}, which every account shares: point it to {target}"
    view = stack.customer_view()
    assert (view["verified"], view["verification_reason"]) == (True, asked)
    assert stack.click_until(stack.click_url(), 302)[0].status_code == 302
    _, b_admin = stack.as_account("newcomer")
    assert b_admin.post(SPARKPOST, json={"domain": "new.brand.test"}).status_code == 200
    stack.dns.set_cname("new.brand.test", TARGET)
    response = b_admin.post(f"{SPARKPOST}/new.brand.test/verify")
    assert (response.status_code, response.json()) == (200, {"results": NOT_VERIFIED})
    b_target = customer_view(b_admin)["dns_record"]["target"]
    assert customer_view(b_admin)["verification_reason"] == (
        f"CNAME points to {TARGET}, which every account shares: point it to {b_target}"
    )


def test_a_name_whose_cname_moved_is_freed_by_the_owners_recheck(stack):
    """While A has the name verified, B's create is a 409; once the CNAME names B's target,
    A's re-check withdraws it and B can claim, verify and use it."""
    a_target = stack.target
    verified(stack)
    b, b_admin = stack.as_account("buyer")
    assert b_admin.post(CUSTOMER, json={"domain": DOMAIN}).status_code == 409
    probe = b_admin.post(CUSTOMER, json={"domain": "probe.brand.test"}).json()["data"]
    b_target = probe["dns_record"]["target"]
    stack.dns.set_cname(DOMAIN, b_target)
    domains = stack.services.domains
    assert stack.live.call(lambda: domains.recheck_due(0)) == 1
    assert stack.customer_view()["verification_reason"] == (
        f"CNAME points to {b_target} instead of {a_target}"
    )
    created = b_admin.post(CUSTOMER, json={"domain": DOMAIN})
    assert created.status_code == 201, created.text
    verify = b_admin.post(f"{CUSTOMER}/{created.json()['data']['id']}/verify")
    assert (verify.status_code, verify.json()["data"]["verified"]) == (200, True)
    assert stack.click_until(stack.click_url(account=b), 302)[0].status_code == 302
    assert stack.click(stack.click_url()).status_code == 404
