"""The SparkPost dialect, endpoint by endpoint, against seed 001."""

from __future__ import annotations

import pytest

BASE = "/api/v1/tracking-domains"


def sp_error(code, message, description):
    return {"errors": [{"code": code, "message": message, "description": description}]}


def verified(admin, client, domain):
    admin.cname.point(domain)
    response = client.post(f"{BASE}/{domain}/verify")
    assert response.status_code == 200, response.text


def test_create_answers_the_domain(admin):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": "example.domain.com", "secure": False, "default": False})
    assert r.status_code == 200
    assert r.json() == {"results": {"domain": "example.domain.com"}}


@pytest.mark.parametrize(
    ("body", "port", "secure"),
    [({}, 80, False), ({"secure": False}, 80, False), ({"secure": True}, 443, True)],
)
def test_port_follows_secure_as_in_the_seed_table(admin, body, port, secure):
    with admin.as_account() as c:
        assert c.post(BASE, json={"domain": "t.brand.com", **body}).status_code == 200
        r = c.get(f"{BASE}/t.brand.com")
    assert r.status_code == 200
    assert r.json() == {
        "results": {
            "port": port,
            "domain": "t.brand.com",
            "secure": secure,
            "default": False,
            "status": {
                "verified": False,
                "cname_status": "unverified",
                "compliance_status": "pending",
            },
        }
    }


def test_create_stores_the_normalised_name(admin):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": " Tråck.Brand.COM. "})
        assert r.json() == {"results": {"domain": "xn--trck-roa.brand.com"}}
        assert c.get(f"{BASE}/xn--trck-roa.brand.com").status_code == 200


@pytest.mark.parametrize(
    ("domain", "description"),
    [
        (
            "example..domain.com",
            "Error validating domain name syntax for domain: 'example..domain.com'",
        ),
        ("ex", "Error domain name length too short for domain: 'ex'"),
        ("exampledomaincom", "Error domain name contains no '.'(s) for domain: 'exampledomaincom'"),
        (
            "example*&#.domain.com",
            "Error domain name contains invalid characters or spaces for domain: "
            "'example*&#.domain.com'",
        ),
    ],
)  # fmt: skip
def test_create_refuses_bad_names_with_the_seed_texts(admin, domain, description):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": domain})
    assert r.status_code == 422
    assert r.json() == sp_error("1300", "invalid data format/type", description)


def test_create_without_domain_is_1400(admin):
    with admin.as_account() as c:
        r = c.post(BASE, json={"secure": True})
    assert r.status_code == 422
    assert r.json() == sp_error("1400", "required field is missing", "field 'domain' is required")


@pytest.mark.parametrize(
    "domain", ["track.test", "x.track.test", "edge.test", "localhost.localdomain.localhost",
               "admin.test", "denied.example", "a.b.denied.example"],
)  # fmt: skip
def test_create_refuses_restricted_domains_with_7000(admin, domain):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": domain})
    assert r.status_code == 400
    assert r.json() == sp_error(
        "7000",
        "restricted domain",
        "Please contact the operator of this service to get this domain authorized for your "
        "account.",
    )


def test_create_of_an_existing_domain_is_1602(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        r = c.post(BASE, json={"domain": "T.Brand.com"})
    assert r.status_code == 409
    assert r.json() == sp_error("1602", "resource conflict", "The tracking domain already exists.")


def test_create_as_default_is_refused_while_unverified(admin):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": "t.brand.com", "default": True})
        listed = c.get(BASE).json()
    assert r.status_code == 422
    assert r.json() == sp_error(
        "1300", "invalid data format/type", "Tracking domain 't.brand.com' unverified."
    )
    assert listed == {"results": []}


def test_create_refuses_a_non_boolean_secure(admin):
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": "t.brand.com", "secure": "yes"})
    assert r.status_code == 422
    assert r.json() == sp_error(
        "1300", "invalid data format/type", "field 'secure' must be a boolean"
    )


def test_create_refuses_a_body_that_is_not_json(admin):
    with admin.as_account() as c:
        r = c.post(BASE, content=b"{domain", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == sp_error(
        "1300", "invalid data format/type", "The request body is not valid JSON."
    )


def test_list_shows_default_and_status(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "one.brand.com", "secure": True})
        c.post(BASE, json={"domain": "two.brand.com"})
        verified(admin, c, "one.brand.com")
        assert c.put(f"{BASE}/one.brand.com", json={"default": True}).status_code == 200
        r = c.get(BASE)
    assert r.status_code == 200
    assert r.json() == {
        "results": [
            {
                "port": 443,
                "domain": "one.brand.com",
                "secure": True,
                "default": True,
                "status": {"verified": True, "cname_status": "valid", "compliance_status": "valid"},
            },
            {
                "port": 80,
                "domain": "two.brand.com",
                "secure": False,
                "default": False,
                "status": {
                    "verified": False,
                    "cname_status": "unverified",
                    "compliance_status": "pending",
                },
            },
        ]
    }


def test_retrieve_unknown_is_1600(admin):
    with admin.as_account() as c:
        r = c.get(f"{BASE}/example.domain.com")
    assert r.status_code == 404
    assert r.json() == sp_error(
        "1600", "resource not found", "Resource not found: example.domain.com"
    )


def test_update_secure_moves_the_port(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        r = c.put(f"{BASE}/t.brand.com", json={"secure": True})
        got = c.get(f"{BASE}/t.brand.com").json()["results"]
    assert r.status_code == 200
    assert r.json() == {"results": {"domain": "t.brand.com"}}
    assert (got["port"], got["secure"]) == (443, True)


def test_update_default_of_an_unverified_domain_is_refused(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        r = c.put(f"{BASE}/t.brand.com", json={"secure": True, "default": True})
        got = c.get(f"{BASE}/t.brand.com").json()["results"]
    assert r.status_code == 422
    assert r.json() == sp_error(
        "1300", "invalid data format/type", "Tracking domain 't.brand.com' unverified."
    )
    assert (got["secure"], got["default"]) == (False, False)  # nothing half-applied


def test_making_another_domain_default_moves_the_default(admin):
    with admin.as_account() as c:
        for name in ("one.brand.com", "two.brand.com"):
            c.post(BASE, json={"domain": name})
            verified(admin, c, name)
        c.put(f"{BASE}/one.brand.com", json={"default": True})
        c.put(f"{BASE}/two.brand.com", json={"default": True})
        defaults = {d["domain"]: d["default"] for d in c.get(BASE).json()["results"]}
    assert defaults == {"one.brand.com": False, "two.brand.com": True}


def test_update_unknown_is_1600(admin):
    with admin.as_account() as c:
        r = c.put(f"{BASE}/example.domain.com", json={"secure": True})
    assert r.status_code == 404
    assert r.json() == sp_error(
        "1600", "resource not found", "Resource not found: example.domain.com"
    )


def test_delete_answers_204_and_the_domain_is_gone(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        r = c.delete(f"{BASE}/t.brand.com")
        after = c.get(f"{BASE}/t.brand.com")
    assert (r.status_code, r.content) == (204, b"")
    assert after.status_code == 404


def test_delete_unknown_is_1600(admin):
    with admin.as_account() as c:
        r = c.delete(f"{BASE}/example.domain.com")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "1600"


def test_verify_success_returns_the_status_object(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        admin.cname.point("t.brand.com")
        r = c.post(f"{BASE}/t.brand.com/verify")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "results": {"verified": True, "cname_status": "valid", "compliance_status": "valid"}
    }


def test_verify_with_a_wrong_cname_reports_invalid(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        admin.cname.point("t.brand.com", "elsewhere.example")
        r = c.post(f"{BASE}/t.brand.com/verify")
    assert r.status_code == 200
    assert r.json() == {
        "results": {"verified": False, "cname_status": "invalid", "compliance_status": "pending"}
    }


def test_verify_of_an_unreachable_domain_is_1404(admin):
    with admin.as_account() as c:
        c.post(BASE, json={"domain": "t.brand.com"})
        admin.cname.point("t.brand.com")
        admin.reach.unreachable.add("t.brand.com")
        r = c.post(f"{BASE}/t.brand.com/verify")
        after = c.get(f"{BASE}/t.brand.com").json()["results"]["status"]
    assert r.status_code == 400
    assert r.json() == sp_error(
        "1404",
        "request to remote endpoint failed",
        "Unable to reach http://t.brand.com:80. Please verify that your redirect is functioning.",
    )
    assert after == {"verified": False, "cname_status": "invalid", "compliance_status": "pending"}


def test_verify_unknown_is_1600(admin):
    with admin.as_account() as c:
        r = c.post(f"{BASE}/example.domain.com/verify")
    assert r.status_code == 404
    assert r.json() == sp_error(
        "1600", "resource not found", "Resource not found: example.domain.com"
    )
