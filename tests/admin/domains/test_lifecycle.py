"""A domain's life on a live server: served once verified, withdrawn when renamed, blocked,
deleted or found without its CNAME by the scheduled re-check (checks are test doubles here;
tests/admin/domains/test_verification_e2e.py does the same over real DNS)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import pytest

from admin.domains.service import set_compliance
from admin.server import create_app
from edge.serving.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.conftest import start_server
from tests.fixtures_admin import AdminHarness, FakeCname, FakeReach, RecordingProvisioner

SP = "/api/v1/tracking-domains"
ML = "/api/v1/customer/tracking-domains"
LANDING = "https://shop.example/landing?id=7"


def account_id(admin: AdminHarness, name: str = "acme") -> int:
    services = admin.live.app.admin_app.state.services
    return admin.live.call(lambda: services.accounts.ensure(name)).id


def click(admin: AdminHarness, domain: str) -> httpx.Response:
    acct = account_id(admin)
    links = LinkBuilder(admin.live.app.runtime.codec)
    url = httpx.URL(links.click_url(TrackingHost(domain, acct, False, True), acct, LANDING))
    with admin.live.client(domain) as c:
        return c.get(url.raw_path.decode())


def click_until(admin: AdminHarness, domain: str, status: int, within: float = 1.0) -> float:
    started = time.monotonic()
    while True:
        response = click(admin, domain)
        elapsed = time.monotonic() - started
        if response.status_code == status:
            return elapsed
        assert elapsed < within, f"{domain}: still {response.status_code} after {within} s"
        time.sleep(0.02)


def verified_domain(admin: AdminHarness, c: httpx.Client, domain: str = "t.brand.com") -> int:
    created = c.post(ML, json={"domain": domain}).json()["data"]
    admin.cname.point(domain)
    assert c.post(f"{ML}/{created['id']}/verify").status_code == 200
    return created["id"]


def test_verified_domain_redirects_a_click_within_a_second(admin):
    with admin.as_account() as c:
        c.post(SP, json={"domain": "t.brand.com"})
        assert click(admin, "t.brand.com").status_code == 404  # not served before verify
        admin.cname.point("t.brand.com")
        c.post(f"{SP}/t.brand.com/verify")
    assert click_until(admin, "t.brand.com", 302) < 1.0
    assert click(admin, "t.brand.com").headers["location"] == LANDING


def test_deleted_domain_is_404_within_a_second(admin):
    with admin.as_account() as c:
        verified_domain(admin, c)
        click_until(admin, "t.brand.com", 302)
        assert c.delete(f"{SP}/t.brand.com").status_code == 204
    assert click_until(admin, "t.brand.com", 404) < 1.0


def test_renamed_domain_stops_serving_its_old_name(admin):
    with admin.as_account() as c:
        i = verified_domain(admin, c)
        click_until(admin, "t.brand.com", 302)
        c.patch(f"{ML}/{i}", json={"domain": "new.brand.com"})
    assert click_until(admin, "t.brand.com", 404) < 1.0
    assert click(admin, "new.brand.com").status_code == 404  # not verified yet


def test_blocked_domain_is_not_served_loses_default_and_cannot_be_made_default(admin):
    store = admin.live.app.admin_app.state.services.store
    with admin.as_account() as c:
        verified_domain(admin, c)
        c.put(f"{SP}/t.brand.com", json={"default": True})
        click_until(admin, "t.brand.com", 302)
        assert admin.live.call(lambda: set_compliance(store, "t.brand.com", blocked=True)) == (
            "blocked"
        )
        assert click_until(admin, "t.brand.com", 404) < 1.0
        got = c.get(f"{SP}/t.brand.com").json()["results"]
        refused = c.put(f"{SP}/t.brand.com", json={"default": True})
        ssl = c.post(f"{ML}/{c.get(ML).json()['data'][0]['id']}/ssl")
    assert got["default"] is False
    assert got["status"] == {
        "verified": True,
        "cname_status": "valid",
        "compliance_status": "blocked",
    }
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {
        "code": "1300",
        "message": "invalid data format/type",
        "description": "Tracking domain 't.brand.com' is blocked.",
    }
    assert ssl.status_code == 422


def test_unblocked_domain_is_served_again(admin):
    store = admin.live.app.admin_app.state.services.store
    with admin.as_account() as c:
        verified_domain(admin, c)
        admin.live.call(lambda: set_compliance(store, "t.brand.com", blocked=True))
        click_until(admin, "t.brand.com", 404)
        assert admin.live.call(lambda: set_compliance(store, "t.brand.com", blocked=False)) == (
            "valid"
        )
        assert click_until(admin, "t.brand.com", 302) < 1.0


def test_verify_of_a_blocked_domain_does_not_unblock_it(admin):
    store = admin.live.app.admin_app.state.services.store
    with admin.as_account() as c:
        created = c.post(ML, json={"domain": "t.brand.com"}).json()["data"]
        admin.live.call(lambda: set_compliance(store, "t.brand.com", blocked=True))
        admin.cname.point("t.brand.com")
        got = c.post(f"{ML}/{created['id']}/verify").json()["data"]
    assert (got["verified"], got["compliance_status"]) == (True, "blocked")
    assert admin.provisioner.calls == []  # no certificate for a blocked domain
    assert click(admin, "t.brand.com").status_code == 404


@pytest.fixture
def rechecking(admin_settings):
    """A server whose re-check runs every 0.2 s."""
    cname, reach, provisioner = FakeCname(), FakeReach(), RecordingProvisioner()
    settings = replace(admin_settings, recheck_interval=0.2)
    live = start_server(create_app(settings, cname=cname, reach=reach, provisioner=provisioner))
    try:
        yield AdminHarness(live, cname, reach, provisioner)
    finally:
        live.stop()


def test_scheduled_recheck_withdraws_a_domain_whose_cname_is_gone(rechecking):
    admin = rechecking
    with admin.as_account() as c:
        verified_domain(admin, c)
        c.put(f"{SP}/t.brand.com", json={"default": True})
        click_until(admin, "t.brand.com", 302)
        del admin.cname.records["t.brand.com"]
        assert click_until(admin, "t.brand.com", 404, within=2.0) < 2.0
        got = c.get(ML).json()["data"][0]
    assert (got["verification_status"], got["default"]) == ("invalid", False)
    assert got["verification_reason"] == "no such name: t.brand.com"


def test_scheduled_recheck_keeps_a_domain_through_a_resolver_timeout(rechecking):
    admin = rechecking
    with admin.as_account() as c:
        verified_domain(admin, c)
        admin.cname.timeouts.add("t.brand.com")
        calls = len(admin.cname.calls)
        deadline = time.monotonic() + 2.0
        while len(admin.cname.calls) < calls + 2:
            assert time.monotonic() < deadline, "the re-check did not run"
            time.sleep(0.02)
        got = c.get(ML).json()["data"][0]
    assert (got["verification_status"], got["verification_reason"]) == (
        "valid",
        "DNS resolver timed out after 3.0 s",
    )
    assert click(admin, "t.brand.com").status_code == 302


def test_concurrent_rechecks_check_each_domain_once(admin):
    services = admin.live.app.admin_app.state.services
    with admin.as_account() as c:
        verified_domain(admin, c, "one.brand.com")
        verified_domain(admin, c, "two.brand.com")
    before = len(admin.cname.calls)

    async def twice():
        return await asyncio.gather(
            services.domains.recheck_due(0), services.domains.recheck_due(0)
        )

    counts = admin.live.call(twice)
    assert sum(counts) == 2
    assert sorted(admin.cname.calls[before:]) == ["one.brand.com", "two.brand.com"]


def test_reverify_with_a_reach_timeout_keeps_a_valid_domain_served_and_default(admin):
    with admin.as_account() as c:
        ident = verified_domain(admin, c)
        assert c.put(f"{SP}/t.brand.com", json={"default": True}).status_code == 200
        click_until(admin, "t.brand.com", 302)
        admin.reach.timeouts.add("t.brand.com")
        r = c.post(f"{ML}/{ident}/verify")
        got = c.get(f"{ML}/{ident}").json()["data"]
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "status": 400,
            "code": "unreachable",
            "message": "Unable to reach http://t.brand.com:80. "
            "Please verify that your redirect is functioning.",
            "reason": "no answer from 192.0.2.1:80 within 3.0 s",
        }
    }
    assert (got["verified"], got["verification_status"], got["default"]) == (True, "valid", True)
    assert got["verification_reason"] == "no answer from 192.0.2.1:80 within 3.0 s"
    assert click(admin, "t.brand.com").status_code == 302


def test_reverify_with_a_wrong_answer_withdraws_a_valid_domain(admin):
    with admin.as_account() as c:
        ident = verified_domain(admin, c)
        assert c.put(f"{SP}/t.brand.com", json={"default": True}).status_code == 200
        click_until(admin, "t.brand.com", 302)
        admin.reach.unreachable.add("t.brand.com")
        r = c.post(f"{ML}/{ident}/verify")
        got = c.get(f"{ML}/{ident}").json()["data"]
    assert r.status_code == 400
    assert (got["verified"], got["verification_status"], got["default"]) == (
        False,
        "invalid",
        False,
    )
    assert click_until(admin, "t.brand.com", 404) < 1.0


def test_a_check_that_breaks_stores_a_fixed_reason_and_logs_the_exception(admin, caplog):
    async def broken(domain: str, target: str | None = None):
        raise OSError("/var/lib/secret/resolv.conf: permission denied for 10.1.2.3")

    admin.cname.check = broken
    with admin.as_account() as c:
        created = c.post(ML, json={"domain": "t.brand.com"}).json()["data"]
        r = c.post(f"{ML}/{created['id']}/verify")
    assert r.status_code == 200
    got = r.json()["data"]
    assert (got["verification_status"], got["verification_reason"]) == (
        "invalid",
        "The verification could not be completed because of an error on our side.",
    )
    logged = [rec for rec in caplog.records if rec.name == "admin.domains"]
    assert [rec.getMessage() for rec in logged] == ["verification of t.brand.com failed"]
    assert "permission denied for 10.1.2.3" in str(logged[0].exc_info[1])


def test_a_claim_on_an_owned_name_gets_no_certificate_and_leaves_the_owners(admin):
    """Certificates are the verified owner's: another account's claim can neither have one
    issued nor, when it goes, take the owner's with it."""
    with admin.as_account("squatter") as b:
        claim = b.post(ML, json={"domain": "t.brand.com"}).json()["data"]
        with admin.as_account() as a:
            owned = verified_domain(admin, a)
            issue = b.post(f"{ML}/{claim['id']}/ssl")
            status = b.get(f"{ML}/{claim['id']}/ssl").json()["data"]["status"]
            assert b.delete(f"{ML}/{claim['id']}").status_code == 204
            assert admin.provisioner.calls == [("provision", owned, False)]
            assert a.delete(f"{ML}/{owned}").status_code == 204
    assert (issue.status_code, issue.json()["error"]["code"]) == (422, "domain_unverified")
    assert status == "unavailable"
    assert admin.provisioner.calls[-1] == ("forget", owned, "t.brand.com")
