"""Request bodies of every admin route: size cap, malformed JSON, id fields."""

from __future__ import annotations

import pytest

from admin.api.bodies import MAX_BODY_BYTES
from admin.api.contracts import MAX_ID

ML = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"
SP = "/api/v1/tracking-domains"

TOO_LARGE_ML = {
    "error": {
        "status": 413,
        "code": "payload_too_large",
        "message": f"the request body is over {MAX_BODY_BYTES} bytes",
    }
}
TOO_LARGE_SP = {
    "errors": [
        {
            "message": "payload too large",
            "description": f"the request body is over {MAX_BODY_BYTES} bytes",
        }
    ]
}


def test_a_deeply_nested_body_is_400_invalid_json_not_a_500(admin):
    with admin.as_account() as c:
        ml = c.post(ML, content=b"[" * 100000)
        sp = c.post(SP, content=b'{"a":' * 100000)
    assert ml.status_code == 400
    assert ml.json() == {
        "error": {
            "status": 400,
            "code": "invalid_json",
            "message": "The request body is nested too deeply.",
        }
    }
    assert sp.status_code == 400
    assert sp.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "The request body is nested too deeply.",
            }
        ]
    }


def test_a_body_over_the_limit_is_413_on_customer_routes(admin):
    with admin.as_account() as c:
        r = c.post(ML, content=b" " * (MAX_BODY_BYTES + 1))
    assert r.status_code == 413
    assert r.json() == TOO_LARGE_ML


def test_a_chunked_body_over_the_limit_is_413_on_sparkpost_routes(admin):
    def chunks():
        for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 1):
            yield b" " * (1024 * 1024)

    with admin.as_account() as c:
        r = c.post(SP, content=chunks())
    assert r.status_code == 413
    assert r.json() == TOO_LARGE_SP


def test_a_chunked_body_under_the_limit_is_read(admin):
    def chunks():
        yield b'{"domain": '
        yield b'"t.brand.com"}'

    with admin.as_account() as c:
        r = c.post(ML, content=chunks())
    assert r.status_code == 201
    assert r.json()["data"]["domain"] == "t.brand.com"


@pytest.mark.parametrize("value", [2**70, MAX_ID + 1, 0, -1])
def test_an_id_field_outside_the_row_id_range_is_422_naming_the_field(admin, value):
    with admin.as_account() as c:
        r = c.post(SENDING, json={"domain": "mail.brand.com", "tracking_domain_id": value})
        listed = c.get(SENDING).json()
    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "status": 422,
            "code": "invalid_data",
            "message": f"field 'tracking_domain_id' must be an id from 1 to {MAX_ID}",
            "field": "tracking_domain_id",
        }
    }
    assert listed == {"data": []}


def test_the_largest_id_is_looked_up_not_refused(admin):
    with admin.as_account() as c:
        r = c.post(SENDING, json={"domain": "mail.brand.com", "tracking_domain_id": MAX_ID})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == f"Tracking domain {MAX_ID} not found."


@pytest.mark.parametrize(
    ("written", "value"),
    [(b"7.0", 7), (b"7e0", 7), (b"70E-1", 7), (b"9007199254740993.0", 2**53 + 1)],
)
def test_an_id_field_takes_an_integer_however_it_is_written(admin, written, value):
    # JSON Schema's integer is a number's value: 7.0 is 7. Read from the text, so that no
    # digit past 2**53 is lost to a float.
    body = b'{"domain": "mail.brand.com", "tracking_domain_id": ' + written + b"}"
    with admin.as_account() as c:
        r = c.post(SENDING, content=body)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == f"Tracking domain {value} not found."


@pytest.mark.parametrize("written", [b"7.5", b"1e400", b'"7"'])
def test_an_id_field_refuses_a_number_that_is_no_integer(admin, written):
    body = b'{"domain": "mail.brand.com", "tracking_domain_id": ' + written + b"}"
    with admin.as_account() as c:
        r = c.post(SENDING, content=body)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "field 'tracking_domain_id' must be an integer or null"


@pytest.mark.parametrize("ref", [str(MAX_ID + 1), "0", "9" * 19, "1" * 5000])
def test_a_path_id_outside_the_row_id_range_is_404(admin, ref):
    with admin.as_account() as c:
        r = c.get(f"{SENDING}/{ref}")
    assert r.status_code == 404
    assert r.json() == {
        "error": {"status": 404, "code": "not_found", "message": f"Resource not found: {ref}"}
    }


def test_a_lone_surrogate_in_a_domain_is_422_naming_the_field_not_a_500(admin):
    with admin.as_account() as c:
        sp = c.post(SP, content=b'{"domain": "a\\ud800.brand.com"}')
        ml = c.post(ML, content=b'{"domain": "\\udc00"}')
    assert sp.status_code == 422
    assert sp.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "field 'domain' is not valid Unicode text",
            }
        ]
    }
    assert ml.status_code == 422
    assert ml.json() == {
        "error": {
            "status": 422,
            "code": "invalid_data",
            "message": "field 'domain' is not valid Unicode text",
            "field": "domain",
        }
    }


def test_a_field_of_the_wrong_type_on_a_path_that_names_nothing_is_404(admin):
    # As it has always been: the path is looked at before the types of the body's fields.
    with admin.as_account() as c:
        r = c.patch(f"{SENDING}/abc", json={"tracking_domain_id": "x"})
        missing = c.patch(f"{SENDING}/abc", json={})
    assert r.status_code == 404
    assert missing.json()["error"]["code"] == "missing_field"
