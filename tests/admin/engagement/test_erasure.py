"""Erasure of a recipient over the wire (issue 13, privacy): ``DELETE
/api/v1/engagement/recipients/{recipient}`` on a live server, the stored rows read back
through the repositories, webhooks to a real receiver."""

from __future__ import annotations

import time

import httpx
import pytest

from admin.engagement.webhooks.delivery import WebhookDelivery
from edge.db.repositories.events import EventFilter
from edge.model.erasure import Erasure, recipient_digest
from edge.serving.domains import TrackingHost
from edge.tokens.links import LinkBuilder
from tests.fixtures_engagement import api_client, event, record_live

PATH = "/api/v1/engagement/recipients/"
ANN = "Ann.Lee@Example.com"
BOB = "bob@example.com"
FROM = "2000-01-01T00:00:00Z"


@pytest.fixture
def live(monkeypatch, other_settings, make_server):
    """Quick roll-up passes and webhook retries; webhooks may go to loopback (the receiver)."""
    monkeypatch.setattr(WebhookDelivery, "poll_interval", 0.05)
    settings = other_settings(
        rollup_interval=0.05,
        webhook_backoff_base=0.05,
        webhook_timeout=2.0,
        webhook_allow_networks=("127.0.0.0/8", "::1/128"),
    )
    return make_server(settings)


def account(live, name: str = "acme") -> tuple[str, int]:
    services = live.app.admin_app.state.services

    async def create():
        acct = await services.accounts.ensure(name)
        return (await services.accounts.create_key(acct)).secret, acct.id

    return live.call(create)


def click(live, account_id: int, recipient: str, link: str) -> None:
    """A real click on the default domain, through a token made for ``recipient``."""
    links = LinkBuilder(live.app.runtime.codec)
    host = TrackingHost(live.app.runtime.settings.default_domain, None, False, True)
    url = links.click_url(host, account_id, "https://shop.test/x", recipient=recipient, link=link)
    with live.client(host.domain) as c:
        assert c.get(httpx.URL(url).raw_path.decode()).status_code == 302


def ref(live, recipient: str) -> str:
    return live.app.runtime.codec.recipient_ref(recipient)


def stored_events(live):
    async def read():
        async with live.app.runtime.store.reading() as db:
            return await db.events.page(EventFilter(None), limit=1000)

    return live.call(read)


def stored(live) -> list[tuple[int, str | None, str | None]]:
    """``(account, recipient, link)`` of every stored event, in time order."""
    return [(e.account_id, e.recipient, e.link) for e in stored_events(live)]


def unique_keys(live, account_id: int, recipient: str) -> int:
    async def read():
        async with live.app.runtime.store.reading() as db:
            row = await db.conn.fetchone(
                "SELECT count(*) FROM engagement_firsts WHERE account_id = ? AND recipient = ?",
                (account_id, recipient),
            )
            return row[0]

    return live.call(read)


def backlog(live, key: str, endpoint_id: int) -> int:
    with api_client(live, key) as c:
        return c.get(f"/api/v1/webhooks/{endpoint_id}").json()["results"]["status"]["backlog"]


def wait_for_backlog(live, key: str, endpoint_id: int, n: int) -> None:
    deadline = time.monotonic() + 10
    while backlog(live, key, endpoint_id) != n:
        assert time.monotonic() < deadline, f"backlog {backlog(live, key, endpoint_id)}, not {n}"
        time.sleep(0.05)


def stats(live, key: str) -> dict:
    with api_client(live, key) as c:
        r = c.get("/api/v1/engagement/stats", params={"from": FROM, "include_machine": "true"})
    assert r.status_code == 200
    return r.json()["results"]["totals"]


def erase(live, key: str, recipient: str) -> httpx.Response:
    with api_client(live, key) as c:
        return c.delete(PATH + recipient)


def test_erasure_requires_an_api_key(live):
    with live.client("admin.test") as c:
        r = c.delete(PATH + BOB)
    assert r.status_code == 401
    assert r.json() == {
        "errors": [
            {
                "message": "Unauthorized.",
                "description": "An API key is required in the Authorization header.",
            }
        ]
    }


def test_erasing_an_address_deletes_its_events_keys_and_webhooks_and_keeps_the_counts(
    live, webhook_receiver
):
    key, acme = account(live)
    _, other = account(live, "other")
    webhook_receiver.mode = "down"
    with api_client(live, key) as c:
        endpoint = c.post("/api/v1/webhooks", json={"url": webhook_receiver.url}).json()
    endpoint_id = endpoint["results"]["id"]
    click(live, acme, ANN, "one")
    click(live, acme, ANN.lower(), "two")
    click(live, acme, BOB, "one")
    click(live, other, ANN, "one")  # another account's: not the caller's to erase
    live.drain()
    wait_for_backlog(live, key, endpoint_id, 3)
    counted = stats(live, key)
    keys = unique_keys(live, acme, ref(live, ANN))
    assert keys > 0

    r = erase(live, key, "  ann.lee@EXAMPLE.com ")  # as the sender has it: case and spaces
    assert r.status_code == 200
    assert r.json() == {"results": {"events": 2, "unique_keys": keys, "webhook_deliveries": 2}}
    assert stored(live) == [(acme, ref(live, BOB), "one"), (other, ref(live, ANN), "one")]
    assert unique_keys(live, acme, ref(live, ANN)) == 0
    assert unique_keys(live, other, ref(live, ANN)) > 0
    assert stats(live, key) == counted  # the roll-ups keep their counts
    assert backlog(live, key, endpoint_id) == 1
    # Once the receiver is up, Bob's event is sent, and neither of Ann's ever is.
    bob = next(e.id for e in stored_events(live) if e.account_id == acme)
    webhook_receiver.mode = "up"
    webhook_receiver.wait_for(1)
    wait_for_backlog(live, key, endpoint_id, 0)
    assert set(webhook_receiver.delivered_ids()) == {bob}


def test_erasing_again_answers_zeros(live):
    key, acme = account(live)
    click(live, acme, BOB, "one")
    live.drain()
    first = erase(live, key, BOB)
    again = erase(live, key, BOB)
    assert first.json()["results"]["events"] == 1
    assert (again.status_code, again.json()) == (
        200,
        {"results": {"events": 0, "unique_keys": 0, "webhook_deliveries": 0}},
    )


def test_an_opaque_reference_is_erased_as_given(live):
    key, acme = account(live)
    now = int(time.time() * 1000)
    record_live(
        live,
        [
            event("click", now - 5000, recipient="cust/42 x", link="a", account=acme),
            event("click", now - 4000, recipient="CUST/42 X", link="a", account=acme),
        ],
    )
    r = erase(live, key, "cust%2F42%20x")
    assert (r.status_code, r.json()["results"]["events"]) == (200, 1)
    assert stored(live) == [(acme, "CUST/42 X", "a")]


def test_a_reference_with_a_line_break_is_erased_as_given(live):
    key, acme = account(live)
    now = int(time.time() * 1000)
    record_live(live, [event("click", now - 5000, recipient="a\nb", link="a", account=acme)])
    r = erase(live, key, "a%0Ab")
    assert (r.status_code, r.json()["results"]["events"]) == (200, 1)
    assert stored(live) == []


def test_an_event_served_before_the_erasure_that_reaches_the_store_after_it_is_dropped(live):
    key, acme = account(live)
    before = int(time.time() * 1000) - 1000
    assert erase(live, key, ANN).status_code == 200
    # Still in a spool when the erasure ran: served before it, recorded now.
    record_live(live, [event("click", before, recipient=ref(live, ANN), link="a", account=acme)])
    assert stored(live) == []
    # Served after the erasure: new engagement, recorded as usual.
    click(live, acme, ANN, "b")
    live.drain()
    assert stored(live) == [(acme, ref(live, ANN), "b")]
    records = live.call(_erasures(live))
    assert [(e.account_id, e.digest) for e in records] == [(acme, recipient_digest(ref(live, ANN)))]
    assert all(isinstance(e, Erasure) and before < e.erased_ms for e in records)


def _erasures(live):
    async def read():
        async with live.app.runtime.store.reading() as db:
            return await db.erasures.all()

    return read


def test_the_operation_is_in_the_openapi_document(live):
    with live.client("admin.test") as c:
        document = c.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/engagement/recipients/{recipient}"]["delete"]
    assert operation["parameters"] == [
        {"name": "recipient", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    assert sorted(operation["responses"]) == ["200", "401", "503"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"$ref": "#/components/schemas/Erased"}},
    }
