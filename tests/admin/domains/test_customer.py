"""The Mailerlogic (customer) dialect, endpoint by endpoint, against seed 000."""

from __future__ import annotations

import re

import pytest

from edge.model.domains import SSL_UNVERIFIED

BASE = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"
TIME = "2000-01-01T00:00:00Z"


def ml_error(status, code, message, field=None):
    error = {"status": status, "code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def no_times(data):
    """The view with its timestamps checked for shape and replaced by a fixed value."""
    out = dict(data)
    for key in ("created_at", "updated_at"):
        assert len(out[key]) == len(TIME) and out[key].endswith("Z")
        out[key] = TIME
    if out.get("last_checked_at") is not None:
        out["last_checked_at"] = TIME
    return out


def create(c, domain="t.brand.com", **extra):
    r = c.post(BASE, json={"domain": domain, **extra})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def verify(admin, c, data):
    admin.cname.point(data["domain"])
    r = c.post(f"{BASE}/{data['id']}/verify")
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_create_answers_201_with_the_cname_record_to_add(admin):
    target = admin.target()
    with admin.as_account() as c:
        r = c.post(BASE, json={"domain": "Track.Brand.com"})
    assert r.status_code == 201
    data = r.json()["data"]
    assert isinstance(data["id"], int)
    assert no_times(data) == {
        "id": data["id"],
        "domain": "track.brand.com",
        "secure": False,
        "default": False,
        "verified": False,
        "verification_status": "unverified",
        "verification_reason": None,
        "last_checked_at": None,
        "compliance_status": "pending",
        "ssl_status": "unavailable",
        "dns_record": {"name": "track.brand.com", "type": "CNAME", "target": target},
        "created_at": TIME,
        "updated_at": TIME,
    }


def test_each_account_has_a_cname_target_of_its_own(admin):
    with admin.as_account("a") as a, admin.as_account("b") as b:
        a_record = create(a)["dns_record"]
        b_record = create(b)["dns_record"]  # the same name: b's claim keeps a out of nothing
        listed = a.get(BASE).json()["data"][0]["dns_record"]
    assert re.fullmatch(r"[0-9a-f]{20}\.edge\.test", a_record["target"])
    assert re.fullmatch(r"[0-9a-f]{20}\.edge\.test", b_record["target"])
    assert a_record["target"] != b_record["target"]
    assert listed == a_record
    assert a_record == {"name": "t.brand.com", "type": "CNAME", "target": admin.target("a")}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 422, ml_error(422, "missing_field", "field 'domain' is required", "domain")),
        (
            {"domain": "ex"},
            422,
            ml_error(
                422,
                "invalid_domain",
                "Error domain name length too short for domain: 'ex'",
                "domain",
            ),
        ),
        (
            {"domain": "*.brand.com"},
            422,
            ml_error(
                422,
                "invalid_domain",
                "Error domain name contains invalid characters or spaces for domain: '*.brand.com'",
                "domain",
            ),
        ),
        (
            {"domain": "192.0.2.1"},
            422,
            ml_error(
                422,
                "invalid_domain",
                "Error validating domain name syntax for domain: '192.0.2.1'",
                "domain",
            ),
        ),
        (
            {"domain": "x.track.test"},
            400,
            ml_error(
                400,
                "restricted_domain",
                "Please contact the operator of this service to get this domain authorized "
                "for your account.",
                "domain",
            ),
        ),
    ],
)
def test_create_refuses_bad_input_in_the_customer_error_shape(admin, body, status, error):
    with admin.as_account() as c:
        r = c.post(BASE, json=body)
    assert r.status_code == status
    assert r.json() == error


def test_create_of_a_taken_name_is_409(admin):
    with admin.as_account() as c:
        create(c)
        r = c.post(BASE, json={"domain": "t.brand.com"})
    assert r.status_code == 409
    assert r.json() == ml_error(409, "conflict", "The tracking domain already exists.")


def test_list_returns_every_domain_of_the_account(admin):
    with admin.as_account() as c:
        one, two = create(c, "one.brand.com"), create(c, "two.brand.com", secure=True)
        r = c.get(BASE)
    assert r.status_code == 200
    assert r.json() == {"data": [one, two]}


def test_get_adds_ssl_status_and_dns_instructions(admin):
    with admin.as_account() as c:
        data = create(c)
        r = c.get(f"{BASE}/{data['id']}")
    assert r.status_code == 200
    got = r.json()["data"]
    i = data["id"]
    assert got["ssl"] == {
        "id": i,
        "domain": "t.brand.com",
        "status": "unavailable",
        "issuer": None,
        "not_before": None,
        "not_after": None,
        "renew_at": None,
        "reason": SSL_UNVERIFIED,  # no certificate until it is verified
    }
    assert got["dns_instructions"] == [
        f"Add a DNS record: t.brand.com. CNAME {admin.target()}.",
        "Wait for DNS propagation (usually 5-30 minutes); check with: dig CNAME t.brand.com",
        f"Verify: POST /api/v1/customer/tracking-domains/{i}/verify",
        "An SSL certificate is then provisioned; follow it with "
        f"GET /api/v1/customer/tracking-domains/{i}/ssl",
        "Assign the tracking domain to sending domains: PATCH /api/v1/customer/domains/{id} "
        f'with {{"tracking_domain_id": {i}}}',
    ]
    assert {k: v for k, v in got.items() if k not in ("ssl", "dns_instructions")} == data


@pytest.mark.parametrize("ref", ["999", "abc", "-1", "1.0"])
def test_get_of_an_unknown_id_is_404(admin, ref):
    with admin.as_account() as c:
        r = c.get(f"{BASE}/{ref}")
    assert r.status_code == 404
    assert r.json() == ml_error(404, "not_found", f"Resource not found: {ref}")


def test_verify_success_starts_ssl_provisioning(admin):
    with admin.as_account() as c:
        data = create(c)
        got = verify(admin, c, data)
        ssl = c.get(f"{BASE}/{data['id']}/ssl")
    assert got["verified"] is True
    assert got["verification_status"] == "valid"
    assert got["verification_reason"] == f"CNAME points to {admin.target()}"
    assert got["compliance_status"] == "valid"
    assert got["last_checked_at"] is not None
    assert admin.provisioner.calls == [("provision", data["id"], False)]
    assert ssl.status_code == 200
    assert ssl.json()["data"]["status"] == "provisioning"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda a: None, "no such name: t.brand.com"),
        (
            lambda a: a.cname.point("t.brand.com", "x.example"),
            "CNAME points to x.example instead of {target}",
        ),
        (lambda a: a.cname.timeouts.add("t.brand.com"), "DNS resolver timed out after 3.0 s"),
    ],
)
def test_verify_failure_stores_and_returns_the_reason(admin, setup, reason):
    reason = reason.format(target=admin.target())
    with admin.as_account() as c:
        data = create(c)
        setup(admin)
        r = c.post(f"{BASE}/{data['id']}/verify")
        again = c.get(f"{BASE}/{data['id']}").json()["data"]
    assert r.status_code == 200
    got = r.json()["data"]
    assert (got["verified"], got["verification_status"], got["verification_reason"]) == (
        False,
        "invalid",
        reason,
    )
    assert again["verification_reason"] == reason
    assert admin.provisioner.calls == []


def test_verify_unreachable_is_400_with_the_reason(admin):
    with admin.as_account() as c:
        data = create(c)
        admin.cname.point("t.brand.com")
        admin.reach.unreachable.add("t.brand.com")
        r = c.post(f"{BASE}/{data['id']}/verify")
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "status": 400,
            "code": "unreachable",
            "message": "Unable to reach http://t.brand.com:80. "
            "Please verify that your redirect is functioning.",
            "reason": "answered, but not with this edge's proof",
        }
    }


def test_rename_resets_verification_and_ssl(admin):
    with admin.as_account() as c:
        data = verify(admin, c, create(c))
        r = c.patch(f"{BASE}/{data['id']}", json={"domain": "new.brand.com"})
    assert r.status_code == 200
    got = r.json()["data"]
    assert (got["id"], got["domain"]) == (data["id"], "new.brand.com")
    assert (got["verified"], got["verification_status"], got["verification_reason"]) == (
        False,
        "unverified",
        None,
    )
    assert (got["ssl_status"], got["compliance_status"]) == ("unavailable", "pending")
    assert got["dns_record"] == {"name": "new.brand.com", "type": "CNAME", "target": admin.target()}
    assert admin.provisioner.calls[-1] == ("forget", data["id"], "t.brand.com")


def test_rename_validates_and_refuses_taken_names(admin):
    with admin.as_account() as c:
        create(c, "taken.brand.com")
        data = create(c)
        bad = c.patch(f"{BASE}/{data['id']}", json={"domain": "exampledomaincom"})
        taken = c.patch(f"{BASE}/{data['id']}", json={"domain": "taken.brand.com"})
        missing = c.patch(f"{BASE}/{data['id']}", json={})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_domain")
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert missing.json() == ml_error(422, "missing_field", "field 'domain' is required", "domain")


def test_delete_answers_204(admin):
    with admin.as_account() as c:
        data = create(c)
        r = c.delete(f"{BASE}/{data['id']}")
        after = c.get(f"{BASE}/{data['id']}")
    assert (r.status_code, r.content) == (204, b"")
    assert after.status_code == 404
    assert admin.provisioner.calls == [("forget", data["id"], "t.brand.com")]


def test_delete_is_refused_while_a_sending_domain_uses_it(admin):
    with admin.as_account() as c:
        data = create(c)
        s = c.post(SENDING, json={"domain": "mail.brand.com", "tracking_domain_id": data["id"]})
        refused = c.delete(f"{BASE}/{data['id']}")
        c.patch(f"{SENDING}/{s.json()['data']['id']}", json={"tracking_domain_id": None})
        allowed = c.delete(f"{BASE}/{data['id']}")
    assert refused.status_code == 409
    assert refused.json() == ml_error(
        409,
        "domain_in_use",
        "Tracking domain 't.brand.com' is assigned to sending domains: mail.brand.com. "
        "Remove it from all sending domains first.",
    )
    assert allowed.status_code == 204


def test_post_ssl_reissues_a_verified_domain_with_202(admin):
    with admin.as_account() as c:
        data = verify(admin, c, create(c))
        r = c.post(f"{BASE}/{data['id']}/ssl")
    assert r.status_code == 202
    assert r.json()["data"]["status"] == "provisioning"
    assert admin.provisioner.calls[-1] == ("provision", data["id"], True)


def test_post_ssl_is_refused_for_an_unverified_domain(admin):
    with admin.as_account() as c:
        data = create(c)
        r = c.post(f"{BASE}/{data['id']}/ssl")
    assert r.status_code == 422
    assert r.json() == ml_error(
        422, "domain_unverified", "Tracking domain 't.brand.com' unverified."
    )
    assert admin.provisioner.calls == []


def test_sending_domain_create_list_get_assign_delete(admin):
    with admin.as_account() as c:
        t = create(c)
        r = c.post(SENDING, json={"domain": "Mail.Brand.com"})
        assert r.status_code == 201
        s = r.json()["data"]
        assert no_times(s) == {
            "id": s["id"],
            "domain": "mail.brand.com",
            "tracking_domain_id": None,
            "tracking_domain": None,
            "created_at": TIME,
            "updated_at": TIME,
        }
        assigned = c.patch(f"{SENDING}/{s['id']}", json={"tracking_domain_id": t["id"]})
        assert assigned.status_code == 200
        assert assigned.json()["data"]["tracking_domain"] == "t.brand.com"
        assert c.get(f"{SENDING}/{s['id']}").json() == assigned.json()
        assert c.get(SENDING).json() == {"data": [assigned.json()["data"]]}
        assert c.delete(f"{SENDING}/{s['id']}").status_code == 204
        assert c.get(f"{SENDING}/{s['id']}").status_code == 404


def test_sending_domain_errors(admin):
    with admin.as_account() as c:
        c.post(SENDING, json={"domain": "mail.brand.com"})
        dup = c.post(SENDING, json={"domain": "mail.brand.com"})
        bad = c.post(SENDING, json={"domain": "mail"})
        unknown_tracking = c.post(
            SENDING, json={"domain": "m2.brand.com", "tracking_domain_id": 42}
        )
        wrong_type = c.post(SENDING, json={"domain": "m3.brand.com", "tracking_domain_id": "1"})
        missing = c.patch(f"{SENDING}/1", json={})
    assert dup.json() == ml_error(409, "conflict", "The sending domain already exists.", "domain")
    assert bad.json() == ml_error(
        422, "invalid_domain", "Error domain name contains no '.'(s) for domain: 'mail'", "domain"
    )
    assert unknown_tracking.json() == ml_error(
        422, "invalid_data", "Tracking domain 42 not found.", "tracking_domain_id"
    )
    assert wrong_type.json() == ml_error(
        422,
        "invalid_data",
        "field 'tracking_domain_id' must be an integer or null",
        "tracking_domain_id",
    )
    assert missing.json() == ml_error(
        422, "missing_field", "field 'tracking_domain_id' is required", "tracking_domain_id"
    )
