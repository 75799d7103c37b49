"""``POST /api/v1/rewrite`` over the wire: a real server, API keys, tracking domains."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from edge.model.privacy import PrivacySettings
from edge.tokens.codec import TokenCodec
from tests.admin.api.test_openapi import conforms, fetch_doc
from tests.conftest import SECRET

PATH = "/api/v1/rewrite"
SP = "/api/v1/tracking-domains"
ML = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"
CODEC = TokenCodec([SECRET])
HTML = '<body><a href="https://shop.example/?a=1&amp;b=2" data-link-name="cta">x</a></body>'


def verified_domain(admin, client, domain: str, **fields) -> None:
    assert client.post(SP, json={"domain": domain, **fields}).status_code == 200
    admin.cname.point(domain)
    assert client.post(f"{SP}/{domain}/verify").json()["results"]["cname_status"] == "valid"


def click_token(url: str):
    return CODEC.read_click(url.rpartition("/e/")[2])


def test_rewrites_html_on_the_edge_default_domain_when_the_account_has_none(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json={"html": HTML, "message": "m-1", "metadata": {"campaign": 7}})
    assert r.status_code == 200
    results = r.json()["results"]
    (link,) = results["links"]
    assert results["html"].startswith(f'<body><a href="{link["tracking_url"]}" data-link-name')
    assert results["tracking_domain"] == "track.test"
    assert (results["message"], results["metadata"]) == ("m-1", {"campaign": 7})
    assert link["tracking_url"].startswith("https://track.test/e/")
    token = click_token(link["tracking_url"])
    account_id = admin.live.call(lambda: admin.live.app.admin_app.state.accounts.ensure("acme")).id
    assert (token.account_id, token.url, token.link, token.message) == (
        account_id, "https://shop.example/?a=1&b=2", "cta", "m-1",
    )  # fmt: skip
    assert '<img src="http://track.test/o/' in results["html"]


def test_the_account_default_tracking_domain_is_used_when_none_is_named(admin) -> None:
    with admin.as_account() as c:
        verified_domain(admin, c, "click.acme.example", secure=True)
        assert c.put(f"{SP}/click.acme.example", json={"default": True}).status_code == 200
        r = c.post(PATH, json={"text": "see http://a.example/x"})
    results = r.json()["results"]
    assert results["tracking_domain"] == "click.acme.example"
    assert results["text"].startswith("see https://click.acme.example/e/")


def test_a_named_verified_domain_is_used_and_its_clicks_are_served(admin) -> None:
    with admin.as_account() as c:
        verified_domain(admin, c, "t.acme.example")
        r = c.post(PATH, json={"html": HTML, "tracking_domain": "T.Acme.Example."})
    (link,) = r.json()["results"]["links"]
    parts = urlsplit(link["tracking_url"])
    assert parts.hostname == "t.acme.example"
    admin.wait_served("t.acme.example", True)
    with admin.live.client("t.acme.example") as edge:
        assert edge.get(parts.path).headers["location"] == "https://shop.example/?a=1&b=2"


def test_a_domain_that_is_not_verified_is_refused(admin) -> None:
    with admin.as_account() as c:
        assert c.post(SP, json={"domain": "new.acme.example"}).status_code == 200
        r = c.post(PATH, json={"html": HTML, "tracking_domain": "new.acme.example"})
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "Tracking domain 'new.acme.example' unverified.",
            }
        ]
    }


def test_a_domain_of_another_account_is_not_found(admin) -> None:
    with admin.as_account("other") as c:
        verified_domain(admin, c, "theirs.example")
    with admin.as_account() as c:
        r = c.post(PATH, json={"html": HTML, "tracking_domain": "theirs.example"})
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "1600"


def test_without_an_api_key_is_401(admin) -> None:
    with admin.client(None) as c:
        r = c.post(PATH, json={"html": HTML})
    assert r.status_code == 401
    assert r.json() == {
        "errors": [
            {
                "message": "Unauthorized.",
                "description": "An API key is required in the Authorization header.",
            }
        ]
    }


def test_neither_html_nor_text_is_422_missing_field(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json={"message": "m"})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "code": "1400",
        "message": "required field is missing",
        "description": "field 'html' is required",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"html": 3}, "html"),
        ({"text": ["x"]}, "text"),
        ({"html": "x", "message": 1}, "message"),
        ({"html": "x", "metadata": "m"}, "metadata"),
        ({"html": "x", "honeypot": "yes"}, "honeypot"),
        ({"html": "x", "tracking_domain": 5}, "tracking_domain"),
    ],
)
def test_fields_of_the_wrong_type_are_422_naming_the_field(admin, body, field) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json=body)
    assert r.status_code == 422
    assert f"'{field}'" in r.json()["errors"][0]["description"]


def test_lone_surrogates_are_refused_not_a_500(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, content=b'{"html": "<a href=\\"http://a.example/\\">\\ud800</a>"}')
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "field 'html' is not valid Unicode text"


def test_a_body_that_is_not_json_is_400(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, content=b"<html>")
    assert r.status_code == 400
    assert r.json()["errors"][0]["description"] == "The request body is not valid JSON."


def test_a_body_over_the_limit_is_413(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, content=b" " * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.json() == {
        "errors": [
            {
                "message": "payload too large",
                "description": "the request body is over 10485760 bytes",
            }
        ]
    }


def test_options_switch_tracking_off_and_add_pixel_and_honeypot(admin) -> None:
    with admin.as_account() as c:
        quiet = c.post(PATH, json={"html": HTML, "track_clicks": False, "track_opens": False})
        loud = c.post(PATH, json={"html": HTML, "initial_open": True, "honeypot": True})
    assert quiet.json()["results"]["html"] == HTML
    assert quiet.json()["results"]["links"][0]["reason"] == "click_tracking_off"
    html = loud.json()["results"]["html"]
    assert html.count("/o/") == 2 and html.count("/e/") == 2


def test_answers_fit_the_openapi_document(admin) -> None:
    doc = fetch_doc(admin)
    with admin.as_account() as c:
        calls = [
            c.post(PATH, json={"html": HTML, "text": "http://a.example/ {{x}}"}),
            c.post(PATH, json={}),
            c.post(PATH, json={"html": "x", "tracking_domain": "nope.example"}),
            c.post(PATH, content=b"[1]"),
        ]
    with admin.client(None) as anonymous:
        calls.append(anonymous.post(PATH, json={"html": HTML}))
    assert [r.status_code for r in calls] == [200, 422, 404, 400, 401]
    for response in calls:
        conforms(doc, PATH, "post", response)


def test_the_senders_assigned_tracking_domain_wins_over_the_account_default(admin) -> None:
    with admin.as_account() as c:
        verified_domain(admin, c, "default.acme.example")
        assert c.put(f"{SP}/default.acme.example", json={"default": True}).status_code == 200
        verified_domain(admin, c, "news.acme.example")
        ids = {d["domain"]: d["id"] for d in c.get(ML).json()["data"]}
        sending = {"domain": "mail.acme.example", "tracking_domain_id": ids["news.acme.example"]}
        assert c.post(SENDING, json=sending).status_code == 201
        assigned = c.post(PATH, json={"text": "x", "sender": "Ann@Mail.Acme.Example"})
        other = c.post(PATH, json={"text": "x", "sender": "bob@elsewhere.example"})
    assert assigned.json()["results"]["tracking_domain"] == "news.acme.example"
    assert other.json()["results"]["tracking_domain"] == "default.acme.example"


def test_a_chunked_body_over_the_limit_is_413_too(admin) -> None:
    def chunks():
        for _ in range(11):
            yield b" " * (1024 * 1024)

    with admin.as_account() as c:
        r = c.post(PATH, content=chunks())
    assert r.status_code == 413
    assert r.json()["errors"][0]["message"] == "payload too large"


def test_a_chunked_body_under_the_limit_is_read(admin) -> None:
    def chunks():
        yield b'{"text": "see '
        yield b'http://a.example/"}'

    with admin.as_account() as c:
        r = c.post(PATH, content=chunks())
    assert r.status_code == 200
    assert r.json()["results"]["links"][0]["wrapped"] is True


def test_the_accounts_tracking_switches_win_over_the_request(admin) -> None:
    services = admin.live.app.admin_app.state.services

    async def switch_off() -> None:
        account = await services.accounts.ensure("acme")
        off = PrivacySettings(track_opens=False, track_clicks=False)
        async with services.store.transaction() as tx:
            await tx.privacy.put(account.id, off, now=int(time.time()))

    with admin.as_account() as c:
        admin.live.call(switch_off)
        r = c.post(PATH, json={"html": HTML, "track_clicks": True, "track_opens": True})
    results = r.json()["results"]
    assert results["html"] == HTML
    assert results["links"][0]["reason"] == "click_tracking_off"


@pytest.mark.parametrize("field", ["message", "recipient"])
def test_a_reference_over_256_characters_is_422_naming_the_field(admin, field) -> None:
    with admin.as_account() as c:
        fits = c.post(PATH, json={"html": HTML, field: "m" * 256})
        r = c.post(PATH, json={"html": HTML, field: "m" * 257})
    assert fits.status_code == 200
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": f"field '{field}' is longer than 256 characters",
            }
        ]
    }


def test_a_part_with_more_links_than_the_cap_is_422_naming_the_part(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json={"text": "https://a.example/ " * 2_001})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "code": "1300",
            "message": "invalid data format/type",
            "description": "the text part holds more than 2000 links",
        }
    ]


@pytest.mark.parametrize(
    "value", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"[-1e999]", b'"\\ud800"']
)
def test_metadata_that_is_not_strict_json_is_422_on_metadata_not_a_500(admin, value) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, content=b'{"html": "x", "metadata": {"k": ' + value + b"}}")
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "code": "1300",
            "message": "invalid data format/type",
            "description": "field 'metadata' holds a non-finite number or text that is not "
            "valid Unicode",
        }
    ]


@pytest.mark.parametrize("name", ["", "   ", "not a host!"])
def test_a_blank_or_invalid_tracking_domain_is_422_on_that_field(admin, name) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json={"html": HTML, "tracking_domain": name})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {
            "code": "1300",
            "message": "invalid data format/type",
            "description": f"field 'tracking_domain' is not a domain name: {name!r}",
        }
    ]


def test_the_answer_is_compact_utf8_json(admin) -> None:
    with admin.as_account() as c:
        r = c.post(PATH, json={"text": "é", "metadata": {"k": "ü"}})
    assert r.headers["content-type"] == "application/json"
    assert r.content.startswith('{"results":{"html":null,"text":"é","links":[]'.encode())
    assert r.content.endswith('"metadata":{"k":"ü"}}}'.encode())


def test_a_link_on_an_unverified_domain_of_the_account_is_wrapped_not_already_wrapped(
    admin,
) -> None:
    with admin.as_account() as c:
        assert c.post(SP, json={"domain": "new.acme.example"}).status_code == 200
        table = admin.live.app.runtime.domains
        deadline = time.monotonic() + 2
        while table.get("new.acme.example") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert table.get("new.acme.example").served is False
        href = "http://new.acme.example/e/" + CODEC.sign_click(1, "https://a.example/")
        r = c.post(PATH, json={"text": href})
    (link,) = r.json()["results"]["links"]
    assert (link["wrapped"], link["reason"]) == (True, None)
