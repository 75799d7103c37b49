"""Starlette's HTTP errors below the admin routes, in each dialect, with their own status."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request

from admin.app import http_error, store_unavailable
from edge.db.store import StoreUnavailable
from tests.conftest import free_port
from tests.fixtures_admin import make_key
from tests.fixtures_engagement import api_client
from tests.postgres import Relay


def _render(path: str, exc: HTTPException) -> tuple[int, dict, dict]:
    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}
    response = asyncio.run(http_error(Request(scope), exc))
    return response.status_code, json.loads(response.body), dict(response.headers)


@pytest.mark.parametrize(
    ("status", "detail", "body"),
    [
        (400, "bad form", {"status": 400, "code": "invalid_json", "message": "bad form"}),
        (413, "too big", {"status": 413, "code": "payload_too_large", "message": "too big"}),
        (
            429,
            "slow down",
            {"status": 429, "code": "too_many_requests", "message": "slow down"},
        ),
        (503, "later", {"status": 503, "code": "service_unavailable", "message": "later"}),
    ],
)
def test_customer_dialect_keeps_the_real_status(status, detail, body):
    got = _render("/api/v1/customer/domains", HTTPException(status, detail))
    assert got[:2] == (status, {"error": body})


def test_sparkpost_dialect_keeps_the_real_status_and_headers():
    exc = HTTPException(429, "slow down", headers={"Retry-After": "3"})
    status, body, headers = _render("/api/v1/tracking-domains", exc)
    assert (status, body) == (
        429,
        {"errors": [{"message": "too many requests", "description": "slow down"}]},
    )
    assert headers["retry-after"] == "3"


def test_400_in_sparkpost_dialect_is_1300():
    assert _render("/api/v1/tracking-domains", HTTPException(400, "bad form"))[:2] == (
        400,
        {
            "errors": [
                {"code": "1300", "message": "invalid data format/type", "description": "bad form"}
            ]
        },
    )


def test_404_and_405_are_unchanged():
    assert _render("/api/v1/nope", HTTPException(404))[:2] == (
        404,
        {
            "errors": [
                {
                    "code": "1600",
                    "message": "resource not found",
                    "description": "Resource not found: /api/v1/nope",
                }
            ]
        },
    )
    assert _render("/api/v1/customer/domains", HTTPException(405))[:2] == (
        405,
        {
            "error": {
                "status": 405,
                "code": "method_not_allowed",
                "message": "POST is not allowed on /api/v1/customer/domains",
            }
        },
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/v1/tracking-domains",
            {
                "errors": [
                    {
                        "message": "service unavailable",
                        "description": "The database is unavailable or busy; try again shortly.",
                    }
                ]
            },
        ),
        (
            "/api/v1/customer/domains",
            {
                "error": {
                    "status": 503,
                    "code": "unavailable",
                    "message": "The database is unavailable or busy; try again shortly.",
                }
            },
        ),
    ],
)
def test_a_database_down_or_busy_is_a_503_in_the_dialect_shape_with_no_detail(path, body):
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    exc = StoreUnavailable("connection refused by db.internal:5432")
    response = asyncio.run(store_unavailable(Request(scope), exc))
    assert (response.status_code, json.loads(response.body)) == (503, body)
    assert response.headers["retry-after"] == "1"


def test_the_admin_api_answers_503_while_its_database_is_down(pg_url, make_server, other_settings):
    relay = Relay(pg_url, free_port())
    relay.restore()
    try:
        live = make_server(other_settings(database_url=relay.url))
        key = make_key(live, "acme")
        with api_client(live, key) as client:
            assert client.get("/api/v1/tracking-domains").status_code == 200
            relay.cut()
            answer = client.get("/api/v1/tracking-domains")
    finally:
        relay.close()
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")
    assert answer.json()["errors"][0]["message"] == "service unavailable"
