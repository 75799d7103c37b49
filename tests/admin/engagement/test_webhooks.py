"""Webhooks against a real HTTP receiver on loopback: signatures, outages, restarts."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from admin.engagement.webhooks.delivery import WebhookDelivery
from admin.engagement.webhooks.endpoints import WebhookEndpoints
from admin.engagement.webhooks.signing import sign, verify_signature
from admin.outbound.client import Outbound
from admin.outbound.policy import AddressPolicy
from admin.outbound.resolve import AddressResolver
from edge.config import Settings
from edge.db.repositories.events import EventFilter
from tests.conftest import free_port
from tests.fixtures_engagement import T0, api_client, event, record_live

MIN = 60_000


@pytest.fixture
def fast(monkeypatch, other_settings):
    """Settings with quick roll-up passes, retries and polling, so tests take seconds; webhooks
    may go to loopback, where the test receivers are (refused by default)."""
    monkeypatch.setattr(WebhookDelivery, "poll_interval", 0.05)
    monkeypatch.setattr(WebhookDelivery, "batch_size", 10)
    return other_settings(
        rollup_interval=0.05,
        webhook_backoff_base=0.05,
        webhook_timeout=2.0,
        webhook_allow_networks=("127.0.0.0/8", "::1/128"),
    )


@pytest.fixture
def live(fast, make_server):
    return make_server(fast)


def account(live, name: str = "acme") -> tuple[str, int]:
    services = live.app.admin_app.state.services

    async def create():
        acct = await services.accounts.ensure(name)
        return (await services.accounts.create_key(acct)).secret, acct.id

    return live.call(create)


def register(live, key: str, url: str, **body) -> dict:
    with api_client(live, key) as c:
        r = c.post("/api/v1/webhooks", json={"url": url, **body})
    assert r.status_code == 201, r.text
    return r.json()["results"]


def clicks(account_id: int, n: int, start: int = T0) -> list:
    # Ten minutes apart, one recipient each: no behaviour rule fires, nothing is relabelled.
    return [
        event("click", start + i * 10 * MIN, recipient=f"r{i}", link="buy", account=account_id)
        for i in range(n)
    ]


def stored_ids(live) -> list[str]:
    """The ids of every stored event, in order."""

    async def ids():
        async with live.app.runtime.store.reading() as db:
            return sorted(e.id for e in await db.events.page(EventFilter(None), limit=10_000))

    return live.call(ids)


def status(live, key: str, endpoint_id: int) -> dict:
    with api_client(live, key) as c:
        return c.get(f"/api/v1/webhooks/{endpoint_id}").json()["results"]["status"]


def test_signature_verifies_with_the_endpoint_secret(live, webhook_receiver):
    key, acct = account(live)
    endpoint = register(live, key, webhook_receiver.url)
    record_live(live, clicks(acct, 3))
    webhook_receiver.wait_for(3)
    request = webhook_receiver.requests[0]
    timestamp = request.headers["x-webhook-timestamp"]
    signature = request.headers["x-webhook-signature"]
    assert signature == sign(endpoint["secret"], int(timestamp), request.body)
    assert verify_signature(endpoint["secret"], timestamp, signature, request.body)
    assert not verify_signature("another-secret", timestamp, signature, request.body)
    assert not verify_signature(endpoint["secret"], timestamp, signature, request.body + b" ")


def test_events_arrive_with_their_stored_ids_and_fields(live, webhook_receiver):
    key, acct = account(live)
    register(live, key, webhook_receiver.url)
    record_live(live, clicks(acct, 2))
    assert sorted(webhook_receiver.wait_for(2)) == stored_ids(live)
    first = webhook_receiver.requests[0]
    assert first.headers["content-type"] == "application/json"
    event0 = json.loads(first.body)["events"][0]
    assert {k: event0[k] for k in ("type", "link", "domain", "verdict", "rule", "recipient")} == {
        "type": "click",
        "link": "buy",
        "domain": "a.test",
        "verdict": "human",
        "rule": "default",
        "recipient": "r0",
    }


def test_only_the_registered_event_types_are_sent(live, webhook_receiver):
    key, acct = account(live)
    register(live, key, webhook_receiver.url, event_types=["open"])
    record_live(live, [*clicks(acct, 2), event("open", T0 + 5 * MIN, account=acct)])
    ids = webhook_receiver.wait_for(1)
    time.sleep(0.3)  # any click would have been sent by now
    assert len(webhook_receiver.delivered_ids()) == 1
    assert ids[0] in stored_ids(live)


def test_other_accounts_events_are_not_sent(live, webhook_receiver):
    key, acct = account(live)
    _, other = account(live, "other")
    register(live, key, webhook_receiver.url)
    record_live(live, [*clicks(other, 2), *clicks(acct, 1, start=T0 + 5 * MIN)])
    webhook_receiver.wait_for(1)
    time.sleep(0.3)
    assert len(webhook_receiver.delivered_ids()) == 1


def test_receiver_down_for_a_while_then_up_gets_every_event(live, webhook_receiver):
    key, acct = account(live)
    endpoint = register(live, key, webhook_receiver.url)
    webhook_receiver.mode = "down"
    record_live(live, clicks(acct, 25))
    webhook_receiver.wait_for_requests(3)  # several failed attempts, backing off
    down = status(live, key, endpoint["id"])
    assert down["backlog"] == 25
    assert down["last_error"] == "HTTP 503"
    assert down["consecutive_failures"] >= 1
    webhook_receiver.stop()  # now not even listening: connection refused
    record_live(live, clicks(acct, 5, start=T0 + 300 * MIN))
    time.sleep(0.3)
    webhook_receiver.mode = "up"
    webhook_receiver.start()
    ids = webhook_receiver.wait_for(30)
    assert sorted(set(ids)) == stored_ids(live)
    deadline = time.monotonic() + 10
    while status(live, key, endpoint["id"])["backlog"] and time.monotonic() < deadline:
        time.sleep(0.05)
    up = status(live, key, endpoint["id"])
    assert (up["backlog"], up["delivered"], up["consecutive_failures"]) == (0, 30, 0)
    assert up["last_success_ms"] is not None


def test_server_restarted_mid_delivery_loses_nothing_and_repeats_ids(
    fast, make_server, webhook_receiver
):
    live = make_server(fast)
    key, acct = account(live)
    register(live, key, webhook_receiver.url)
    webhook_receiver.mode = "hold"
    record_live(live, clicks(acct, 15))
    webhook_receiver.wait_for_requests(1)  # a batch is in flight, unanswered
    held = webhook_receiver.requests[0].event_ids
    live.stop()
    # A new process on the same data directory picks the queue up.
    webhook_receiver.mode = "up"
    again = make_server(fast)
    ids = webhook_receiver.wait_for(15)
    assert sorted(set(ids)) == stored_ids(again)
    # The batch that was in flight was sent again, with the same event ids; the others once.
    all_sent = [i for r in webhook_receiver.requests for i in r.event_ids]
    if fast.database_url:  # PostgreSQL: the events of the roll-up part that committed first
        assert 0 < len(held) <= 10
    else:  # SQLite: one pass enqueued all 15, and a batch holds 10
        assert len(held) == 10
    assert {i: all_sent.count(i) for i in held} == dict.fromkeys(held, 2)
    assert sorted(i for i in all_sent if i not in held) == sorted(set(ids) - set(held))


def test_events_undelivered_past_the_maximum_age_expire(fast, make_server, webhook_receiver):
    live = make_server(replace(fast, webhook_max_age=0.3))
    key, acct = account(live)
    endpoint = register(live, key, webhook_receiver.url)
    webhook_receiver.mode = "down"
    record_live(live, clicks(acct, 4))
    deadline = time.monotonic() + 10
    while status(live, key, endpoint["id"])["expired"] < 4:
        assert time.monotonic() < deadline, status(live, key, endpoint["id"])
        time.sleep(0.05)
    assert status(live, key, endpoint["id"])["backlog"] == 0


def test_bad_endpoint_url_is_refused(live):
    key, _ = account(live)
    with api_client(live, key) as c:
        r = c.post("/api/v1/webhooks", json={"url": "ftp://example.com/x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "url must be an absolute http or https URL"


@pytest.mark.parametrize(
    "url",
    [
        "ht\ttp://hooks.brand.test/in",  # urlsplit drops tabs: another URL would be stored
        "http://hooks.brand.test/\nin",
        "http://hooks.brand.test/\x00",
        "http://[::1/in",  # urlsplit raises on the unclosed bracket
        "http://:8080/in",
        "http://hooks.brand.test:99999/in",  # no socket takes it: delivery raised
        "mailto:hooks@brand.test",
    ],
)
def test_a_url_that_is_not_an_absolute_http_url_is_refused(live, url):
    key, _ = account(live)
    with api_client(live, key) as c:
        r = c.post("/api/v1/webhooks", json={"url": url})
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "url must be an absolute http or https URL",
            }
        ]
    }


def test_the_backoff_of_an_endpoint_failing_for_weeks_stays_at_the_maximum():
    delivery = WebhookDelivery(object())  # type: ignore[arg-type]
    delays = [delivery.backoff(failures) for failures in (1, 1025, 10**6)]
    assert delivery.backoff_base * 0.8 <= delays[0] <= delivery.backoff_base * 1.2
    assert all(delivery.backoff_max * 0.8 <= d <= delivery.backoff_max * 1.2 for d in delays[1:])


def test_an_endpoint_stored_with_a_port_past_65535_fails_its_deliveries_with_a_reason(
    live, webhook_receiver
):
    """Stored before such URLs were refused: each attempt is a failure with its reason and
    a backoff, not an exception that leaves the events leased and the endpoint silent."""
    key, acct = account(live)
    endpoint = register(live, key, webhook_receiver.url)

    async def break_port():
        async with live.app.runtime.store.transaction() as tx:
            await tx.conn.execute(
                "UPDATE webhook_endpoints SET url = ? WHERE id = ?",
                ("http://127.0.0.1:99999/hooks", endpoint["id"]),
            )

    live.call(break_port)
    record_live(live, clicks(acct, 1))
    deadline = time.monotonic() + 10
    while not status(live, key, endpoint["id"])["consecutive_failures"]:
        assert time.monotonic() < deadline, "no failure recorded"
        time.sleep(0.05)
    got = status(live, key, endpoint["id"])
    assert got["last_error"] == "OverflowError: the request could not be made"
    assert got["backlog"] == 1


def test_unknown_event_type_is_refused(live):
    key, _ = account(live)
    with api_client(live, key) as c:
        r = c.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/", "event_types": ["x"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "unknown event types: x"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("ref", [str(2**63), "9" * 19, "9" * 40, "0", "+1", "abc"])
def test_an_id_that_names_no_row_is_404_not_a_500(live, ref, method):
    key, _ = account(live)
    with api_client(live, key) as c:
        r = c.request(method, f"/api/v1/webhooks/{ref}", json={"active": False})
    assert r.status_code == 404
    assert r.json() == {
        "errors": [
            {
                "code": "1600",
                "message": "resource not found",
                "description": f"Resource not found: {ref}",
            }
        ]
    }


@pytest.mark.parametrize(
    "url", ["https://hooks.brand.test/\\ud800", "https://hooks\\udc00.brand.test/in"]
)
def test_a_url_that_is_not_unicode_text_is_422_not_a_500(live, url):
    key, _ = account(live)
    endpoint = register(live, key, "https://hooks.brand.test/in")
    body = f'{{"url": "{url}"}}'.encode()
    with api_client(live, key) as c:
        created = c.post("/api/v1/webhooks", content=body)
        changed = c.patch(f"/api/v1/webhooks/{endpoint['id']}", content=body)
        listed = c.get("/api/v1/webhooks").json()["results"]
    refusal = {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "field 'url' is not valid Unicode text",
            }
        ]
    }
    assert (created.status_code, created.json()) == (422, refusal)
    assert (changed.status_code, changed.json()) == (422, refusal)
    assert [e["url"] for e in listed] == ["https://hooks.brand.test/in"]


def test_endpoints_of_another_account_are_not_found(live, webhook_receiver):
    key, _ = account(live)
    other_key, _ = account(live, "other")
    endpoint = register(live, key, webhook_receiver.url)
    with api_client(live, other_key) as c:
        assert c.get(f"/api/v1/webhooks/{endpoint['id']}").status_code == 404
        assert c.delete(f"/api/v1/webhooks/{endpoint['id']}").status_code == 404
        assert c.get("/api/v1/webhooks").json() == {"results": []}


def test_secret_is_shown_only_at_creation(live, webhook_receiver):
    key, _ = account(live)
    endpoint = register(live, key, webhook_receiver.url)
    assert len(endpoint["secret"]) == 64
    with api_client(live, key) as c:
        listed = c.get("/api/v1/webhooks").json()["results"]
    assert "secret" not in listed[0]


def test_deactivated_endpoint_gets_nothing(live, webhook_receiver):
    key, acct = account(live)
    endpoint = register(live, key, webhook_receiver.url)
    with api_client(live, key) as c:
        r = c.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"active": False})
    assert r.json()["results"]["active"] is False
    record_live(live, clicks(acct, 2))
    time.sleep(0.4)
    assert webhook_receiver.requests == []


# -- where webhooks may go: public addresses only, unless allowed (SSRF) ----------------------


def refused(address: str) -> str:
    return (
        f"refusing to connect to {address}: not a public address "
        "(EDGE_WEBHOOK_ALLOW_NETWORKS can allow its network)"
    )


@pytest.fixture
def public_only(fast, make_server, dns_server):
    """A server with the default webhook policy, resolving through the loopback DNS server."""
    default = Settings().webhook_allow_networks
    return make_server(
        replace(fast, webhook_allow_networks=default, dns_nameservers=(dns_server.nameserver,))
    )


def stored_earlier(live, account_id: int, url: str) -> int:
    """An endpoint stored without the registration check, as one registered under another
    configuration (or before this check existed) is; returns its id."""
    engagement = live.app.admin_app.state.engagement
    anywhere = Outbound(AddressResolver(), AddressPolicy(["0.0.0.0/0", "::/0"]))

    async def create():
        endpoint, _ = await WebhookEndpoints(engagement.store, anywhere).create(account_id, url)
        return endpoint.id

    return live.call(create)


def last_error(live, key: str, endpoint_id: int) -> dict:
    deadline = time.monotonic() + 10
    while status(live, key, endpoint_id)["last_error"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return status(live, key, endpoint_id)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("10.1.2.3", "10.1.2.3"),
        ("169.254.169.254", "169.254.169.254"),
        ("[::ffff:0:a9fe:a9fe]", "::ffff:0:a9fe:a9fe"),
        ("[fec0::1]", "fec0::1"),
    ],
)
def test_url_on_a_refused_address_is_refused_at_registration(public_only, host, address):
    key, _ = account(public_only)
    with api_client(public_only, key) as c:
        r = c.post("/api/v1/webhooks", json={"url": f"http://{host}:8080/hooks"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == refused(address)


def test_url_changed_to_a_refused_address_is_refused(public_only):
    key, _ = account(public_only)
    endpoint = register(public_only, key, "https://hooks.brand.test/in")
    with api_client(public_only, key) as c:
        r = c.patch(f"/api/v1/webhooks/{endpoint['id']}", json={"url": "http://localhost/in"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["description"] == refused("127.0.0.1")
        assert c.get(f"/api/v1/webhooks/{endpoint['id']}").json()["results"]["url"] == (
            "https://hooks.brand.test/in"
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1"])
def test_loopback_endpoint_is_refused_at_delivery_by_default(public_only, webhook_receiver, host):
    key, acct = account(public_only)
    endpoint_id = stored_earlier(public_only, acct, f"http://{host}:{webhook_receiver.port}/hooks")
    record_live(public_only, clicks(acct, 1))
    got = last_error(public_only, key, endpoint_id)
    assert got["last_error"] == refused("127.0.0.1")
    assert (got["backlog"], got["delivered"]) == (1, 0)
    assert webhook_receiver.requests == []


def test_last_error_does_not_tell_whether_an_internal_port_answers(public_only, webhook_receiver):
    key, acct = account(public_only)
    answering = stored_earlier(public_only, acct, webhook_receiver.url)
    closed = stored_earlier(public_only, acct, f"http://127.0.0.1:{free_port()}/hooks")
    record_live(public_only, clicks(acct, 1))
    errors = {last_error(public_only, key, i)["last_error"] for i in (answering, closed)}
    assert errors == {refused("127.0.0.1")}
    assert webhook_receiver.requests == []


def test_name_resolving_to_loopback_is_refused_at_delivery(
    public_only, dns_server, webhook_receiver
):
    # (Refusing private and link-local addresses is the policy's own test: no traffic leaves
    # loopback here, even if the guard were broken.)
    dns_server.set_a("hooks.brand.test", "127.0.0.1")
    key, acct = account(public_only)
    endpoint = register(public_only, key, f"http://hooks.brand.test:{webhook_receiver.port}/in")
    record_live(public_only, clicks(acct, 1))
    got = last_error(public_only, key, endpoint["id"])
    assert got["last_error"] == refused("127.0.0.1")
    assert (got["backlog"], got["delivered"]) == (1, 0)
    assert webhook_receiver.requests == []


def test_name_is_resolved_by_idna_2008_as_it_is_sent(
    fast, make_server, dns_server, webhook_receiver
):
    # IDNA 2003 (Python's codec, getaddrinfo under uvloop) reads ß.hooks.test as ss.hooks.test;
    # IDNA 2008 (httpx, browsers, edge.hosts) as xn--zca.hooks.test. 127.0.0.2 stands in for a
    # public address: the only network allowed.
    dns_server.set_a("ss.hooks.test", "127.0.0.2")
    dns_server.set_a("xn--zca.hooks.test", "127.0.0.1")
    allowed = ("127.0.0.2/32",)
    live = make_server(
        replace(fast, webhook_allow_networks=allowed, dns_nameservers=(dns_server.nameserver,))
    )
    key, acct = account(live)
    endpoint = register(live, key, f"http://ß.hooks.test:{webhook_receiver.port}/hooks")
    record_live(live, clicks(acct, 1))
    got = last_error(live, key, endpoint["id"])
    assert got["last_error"] == refused("127.0.0.1")
    assert webhook_receiver.requests == []
    assert {name for name, _ in dns_server.queries} == {"xn--zca.hooks.test"}


def test_rebinding_name_is_posted_to_the_address_that_was_checked(
    fast, make_server, dns_server, make_webhook_receiver
):
    # The name answers 127.0.0.2 (the stand-in public address) first, 127.0.0.1 next, TTL 0.
    public = make_webhook_receiver("127.0.0.2")
    internal = make_webhook_receiver("127.0.0.1", public.port)
    dns_server.set_a_sequence("rebind.hooks.test", ["127.0.0.2"], ["127.0.0.1"], ttl=0)
    allowed = ("127.0.0.2/32",)
    live = make_server(
        replace(fast, webhook_allow_networks=allowed, dns_nameservers=(dns_server.nameserver,))
    )
    key, acct = account(live)
    register(live, key, f"http://rebind.hooks.test:{public.port}/hooks")
    record_live(live, clicks(acct, 1))
    public.wait_for(1)
    assert public.requests[0].headers["host"] == f"rebind.hooks.test:{public.port}"
    assert internal.requests == []
    assert dns_server.queries.count(("rebind.hooks.test", "A")) == 1


def test_allowed_networks_from_the_environment():
    assert Settings.from_env({}).webhook_allow_networks == ()
    assert Settings.from_env({"EDGE_WEBHOOK_ALLOW_NETWORKS": "none"}).webhook_allow_networks == ()
    env = {"EDGE_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/8, ::1"}
    assert Settings.from_env(env).webhook_allow_networks == ("127.0.0.0/8", "::1/128")
