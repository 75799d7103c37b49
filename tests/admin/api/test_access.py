"""Who may do what: API keys, account scoping, both dialects over one service, host routing."""

from __future__ import annotations

import pytest

SP = "/api/v1/tracking-domains"
ML = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"


@pytest.mark.parametrize("header", [None, "", "0123456789abcdef0123456789abcdef01234567"])
def test_missing_or_wrong_key_is_401_in_the_sparkpost_shape(admin, header):
    with admin.client(header) as c:
        r = c.get(SP)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    expected = (
        "The API key is not valid."
        if header
        else "An API key is required in the Authorization header."
    )
    assert r.json() == {"errors": [{"message": "Unauthorized.", "description": expected}]}


def test_missing_key_is_401_in_the_customer_shape(admin):
    with admin.client(None) as c:
        r = c.post(ML, json={"domain": "t.brand.com"})
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "status": 401,
            "code": "unauthorized",
            "message": "An API key is required in the Authorization header.",
        }
    }


def test_bearer_and_bare_keys_both_authenticate(admin):
    key = admin.key("acme")
    with admin.client(key) as bare, admin.client(key, bearer=True) as bearer:
        assert bare.get(SP).status_code == 200
        assert bearer.get(ML).status_code == 200


def test_revoked_key_is_401(admin):
    services = admin.live.app.admin_app.state.services

    async def revoke_all():
        for key in await services.accounts.list_keys():
            await services.accounts.revoke(key.id)

    key = admin.key("acme")
    admin.live.call(revoke_all)
    with admin.client(key) as c:
        assert c.get(SP).status_code == 401


def test_a_domain_created_in_one_dialect_is_the_same_in_the_other(admin):
    with admin.as_account() as c:
        c.post(SP, json={"domain": "t.brand.com", "secure": True})
        (ml,) = c.get(ML).json()["data"]
        admin.cname.point("t.brand.com")
        assert c.post(f"{ML}/{ml['id']}/verify").status_code == 200
        assert c.put(f"{SP}/t.brand.com", json={"default": True}).status_code == 200
        sp = c.get(f"{SP}/t.brand.com").json()["results"]
        ml = c.get(f"{ML}/{ml['id']}").json()["data"]
    assert sp == {
        "port": 443,
        "domain": "t.brand.com",
        "secure": True,
        "default": True,
        "status": {"verified": True, "cname_status": "valid", "compliance_status": "valid"},
    }
    assert (ml["domain"], ml["secure"], ml["default"], ml["verified"]) == (
        "t.brand.com",
        True,
        True,
        True,
    )
    assert (ml["verification_status"], ml["compliance_status"]) == ("valid", "valid")


def test_a_rename_in_one_dialect_shows_in_the_other(admin):
    with admin.as_account() as c:
        created = c.post(ML, json={"domain": "old.brand.com"}).json()["data"]
        c.patch(f"{ML}/{created['id']}", json={"domain": "new.brand.com"})
        assert c.get(f"{SP}/old.brand.com").status_code == 404
        assert c.get(f"{SP}/new.brand.com").status_code == 200


def test_another_account_can_neither_see_change_verify_nor_delete(admin):
    with admin.as_account("a") as a:
        created = a.post(ML, json={"domain": "t.brand.com"}).json()["data"]
    i = created["id"]
    admin.cname.point("t.brand.com")
    with admin.as_account("b") as b:
        assert b.get(SP).json() == {"results": []}
        assert b.get(ML).json() == {"data": []}
        attempts = [
            b.get(f"{SP}/t.brand.com"),
            b.put(f"{SP}/t.brand.com", json={"secure": True}),
            b.post(f"{SP}/t.brand.com/verify"),
            b.delete(f"{SP}/t.brand.com"),
            b.get(f"{ML}/{i}"),
            b.patch(f"{ML}/{i}", json={"domain": "mine.brand.com"}),
            b.post(f"{ML}/{i}/verify"),
            b.get(f"{ML}/{i}/ssl"),
            b.post(f"{ML}/{i}/ssl"),
            b.delete(f"{ML}/{i}"),
        ]
        claim = b.post(SP, json={"domain": "t.brand.com"})
        assign = b.post(SENDING, json={"domain": "mail.b.com", "tracking_domain_id": i})
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert attempts[0].json()["errors"][0]["description"] == "Resource not found: t.brand.com"
    assert attempts[4].json()["error"]["message"] == f"Resource not found: {i}"
    # B may claim the name too: an unverified claim proves nothing, and keeps nobody out.
    assert (claim.status_code, claim.json()) == (200, {"results": {"domain": "t.brand.com"}})
    assert assign.status_code == 422
    assert admin.cname.calls == []  # B's verify never reached DNS
    with admin.as_account("a") as a:
        still = a.get(f"{ML}/{i}").json()["data"]
    assert (still["domain"], still["secure"], still["verification_status"]) == (
        "t.brand.com",
        False,
        "unverified",
    )


def test_another_accounts_sending_domains_are_not_found(admin):
    with admin.as_account("a") as a:
        s = a.post(SENDING, json={"domain": "mail.a.com"}).json()["data"]
    with admin.as_account("b") as b:
        codes = [
            b.get(f"{SENDING}/{s['id']}").status_code,
            b.patch(f"{SENDING}/{s['id']}", json={"tracking_domain_id": None}).status_code,
            b.delete(f"{SENDING}/{s['id']}").status_code,
        ]
        assert b.get(SENDING).json() == {"data": []}
    assert codes == [404, 404, 404]


def test_admin_api_is_not_served_on_tracking_domains(admin):
    with admin.as_account() as c:
        c.post(SP, json={"domain": "t.brand.com"})
        admin.cname.point("t.brand.com")
        c.post(f"{SP}/t.brand.com/verify")
    admin.wait_served("t.brand.com", True)
    key = admin.key()
    for host in ("t.brand.com", "track.test", "unknown.example"):
        with admin.live.client(host) as c:
            r = c.get(SP, headers={"authorization": key})
        assert r.status_code == 404, host
        assert "results" not in r.text


def test_tracking_paths_are_not_served_on_the_admin_host(admin):
    with admin.client(admin.key()) as c:
        click = c.get("/e/anything")
        pixel = c.get("/o/anything")
    assert click.status_code == 404 and "location" not in click.headers
    assert pixel.status_code == 404


def test_unknown_admin_paths_and_methods_answer_in_the_dialect_shape(admin):
    with admin.as_account() as c:
        unknown = c.get("/api/v1/customer/nothing-here")
        method = c.patch(SP)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "error": {
            "status": 404,
            "code": "not_found",
            "message": "Resource not found: /api/v1/customer/nothing-here",
        }
    }
    assert method.status_code == 405
    assert method.json() == {
        "errors": [
            {
                "message": "method not allowed",
                "description": "PATCH is not allowed on /api/v1/tracking-domains",
            }
        ]
    }
    assert set(method.headers["allow"].split(", ")) == {"GET", "POST", "HEAD"}
