"""Real engagement answers (stats, events, switches, labels, webhooks) fit the document."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.admin.api.test_openapi import conforms
from tests.fixtures_engagement import HOUR, T0, api_client, event, record_live

E = "/api/v1/engagement"
W = "/api/v1/webhooks"
RANGE = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}


@pytest.fixture
def live_server(settings, make_server):
    """The server, with webhooks allowed to loopback (where nothing listens on port 9)."""
    return make_server(replace(settings, webhook_allow_networks=("127.0.0.0/8", "::1/128")))


def test_engagement_answers_fit_the_documented_schemas(live_server, engagement_account):
    key, account = engagement_account("acme")
    record_live(
        live_server,
        [
            event("open", T0 + 10 * HOUR, account=account),
            event("click", T0 + 11 * HOUR, link="buy", account=account),
            event("click", T0 + 12 * HOUR, recipient="r2", link="buy", account=account),
        ],
    )
    with api_client(live_server, key) as c:
        doc = c.get("/api/v1/openapi.json").json()
        page = c.get(f"{E}/events", params={"limit": 2})
        hook = c.post(W, json={"url": "http://127.0.0.1:9/", "event_types": ["click"]})
        ref = f"{W}/{hook.json()['results']['id']}"
        calls = [
            (f"{E}/stats", "get", c.get(f"{E}/stats", params=RANGE)),
            (f"{E}/stats", "get", c.get(f"{E}/stats", params={**RANGE, "group_by": "hour"})),
            (f"{E}/stats", "get", c.get(f"{E}/stats", params={"from": "x"})),
            (f"{E}/events", "get", page),
            (f"{E}/events", "get", c.get(f"{E}/events", params={"cursor": "garbled"})),
            (f"{E}/events/export", "get", c.get(f"{E}/events/export", params=RANGE)),
            (f"{E}/settings", "get", c.get(f"{E}/settings")),
            (f"{E}/settings", "put", c.put(f"{E}/settings", json={"client_ip": "truncated"})),
            (f"{E}/settings", "put", c.put(f"{E}/settings", content=b"[]")),
            (f"{E}/messages/{{message}}", "put",
             c.put(f"{E}/messages/m1", json={"campaign": "spring", "tags": ["a", "b"]})),
            (f"{E}/messages/{{message}}", "get", c.get(f"{E}/messages/m1")),
            (W, "post", hook),
            (W, "post", c.post(W, json={})),
            (W, "get", c.get(W)),
            (f"{W}/{{id}}", "get", c.get(ref)),
            (f"{W}/{{id}}", "patch", c.patch(ref, json={"active": False})),
            (f"{W}/{{id}}", "delete", c.delete(ref)),
            (f"{W}/{{id}}", "get", c.get(ref)),
        ]  # fmt: skip
    with live_server.client("admin.test") as anonymous:
        calls.append((W, "get", anonymous.get(W)))
    assert page.json()["next_cursor"] is not None
    assert hook.json()["results"]["secret"]
    statuses = {r.status_code for _, _, r in calls}
    assert statuses == {200, 201, 204, 400, 401, 404, 422}
    for template, method, response in calls:
        conforms(doc, template, method, response)
