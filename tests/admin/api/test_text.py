"""Text the store keeps or searches for holds no NUL (PostgreSQL's text cannot): refused in a
body or a query (422), naming nothing in a path (404), on both engines, never a 500."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.config import Settings
from tests.conftest import LiveServer
from tests.fixtures_admin import make_key
from tests.fixtures_engagement import api_client

LABELS = "/api/v1/engagement/messages"


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, settings: Settings) -> LiveServer:
    if request.param == "postgres":
        settings = replace(settings, database_url=request.getfixturevalue("pg_url"))
    # Asked for after the database, so that the server stops before the database is dropped.
    return request.getfixturevalue("make_server")(settings)


def refusal(description: str) -> dict:
    return {
        "errors": [
            {"code": "1300", "message": "invalid data format/type", "description": description}
        ]
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [(b'{"campaign": "spring\\u0000"}', "campaign"), (b'{"tags": ["a", "\\u0000"]}', "tags")],
)
def test_a_label_holding_nul_is_422(server, body, field):
    with api_client(server, make_key(server, "acme")) as c:
        r = c.put(f"{LABELS}/m1", content=body)
        labels = c.get(f"{LABELS}/m1").json()
    assert (r.status_code, r.json()) == (422, refusal(f"field '{field}' holds a NUL character"))
    assert labels == {"results": {"message": "m1", "campaign": None, "tags": []}}


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_a_message_reference_holding_nul_names_nothing(server, method):
    with api_client(server, make_key(server, "acme")) as c:
        r = c.request(method, f"{LABELS}/m%001", json={"campaign": "spring"})
    assert r.status_code == 404
    assert r.json() == {
        "errors": [
            {
                "code": "1600",
                "message": "resource not found",
                "description": "Resource not found: m\x001",
            }
        ]
    }


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/engagement/events", {"message": "m\x00"}),
        ("/api/v1/engagement/events", {"domain": "a.test\x00"}),
        ("/api/v1/engagement/stats", {"from": "2026-11-02", "message": "m\x00"}),
        ("/api/v1/engagement/events/export", {"from": "2026-11-02", "to": "2026-11-03",
                                              "message": "m\x00"}),
    ],
)  # fmt: skip
def test_a_filter_holding_nul_is_422(server, path, params):
    with api_client(server, make_key(server, "acme")) as c:
        r = c.get(path, params=params)
    (name,) = (k for k, v in params.items() if "\x00" in v)
    assert (r.status_code, r.json()) == (422, refusal(f"'{name}' must not hold a NUL character"))


def test_a_rewrite_reference_holding_nul_is_422(server):
    # It would go into every token, and from there into every event of the message.
    with api_client(server, make_key(server, "acme")) as c:
        r = c.post("/api/v1/rewrite", json={"html": "<p>hi</p>", "recipient": "r\x00"})
    assert (r.status_code, r.json()) == (422, refusal("field 'recipient' holds a NUL character"))
