"""The events API: filters, cursor pagination, and the streaming NDJSON / CSV export."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading

import pytest

from tests.fixtures_engagement import (
    APPLE_IP,
    APPLE_MPP,
    EOP_IP,
    HOUR,
    T0,
    api_client,
    event,
    record_live,
)
from tests.stores import in_store

MIN = 60_000


class RssSampler:
    """The growth of this process's resident memory over a block, sampled every 5 ms."""

    def __enter__(self) -> RssSampler:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def growth(self) -> int:
        return self.peak - self.base


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


FROM = "2026-11-02T00:00:00Z"
TO = "2026-11-03T00:00:00Z"


def mixed(account: int) -> list:
    return [
        event("open", T0 + HOUR, account=account),
        event("open", T0 + HOUR + 5000, recipient="r2", ip=APPLE_IP, ua=APPLE_MPP, account=account),
        event("click", T0 + 2 * HOUR, link="buy", account=account),
        event("click", T0 + 2 * HOUR, recipient="r3", link="buy", ip=EOP_IP, account=account),
        event("open", T0 + 3 * HOUR, message="m2", domain="b.test", account=account),
        event("open", T0 + 30 * HOUR, account=account),  # the next day: outside FROM..TO
    ]


def get(live, key, path, **params):
    with api_client(live, key) as c:
        return c.get(path, params=params)


def test_list_returns_events_in_time_order_with_verdicts(live_server, engagement_account):
    key, acct = engagement_account()
    record_live(live_server, mixed(acct))
    r = get(live_server, key, "/api/v1/engagement/events", **{"from": FROM, "to": TO})
    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None
    assert [(e["type"], e["recipient"], e["verdict"], e["rule"]) for e in body["results"]] == [
        ("open", "r1", "human", "default"),
        ("open", "r2", "machine_open", "apple_mpp_ip"),
        ("click", "r1", "human", "default"),
        ("click", "r3", "scanner", "microsoft_eop_ip"),
        ("open", "r1", "human", "default"),
    ]
    assert body["results"][0]["time"] == "2026-11-02T01:00:00.000Z"


def test_list_filters_by_type_verdict_domain_message_and_recipient(live_server, engagement_account):
    key, acct = engagement_account()
    record_live(live_server, mixed(acct))
    path = "/api/v1/engagement/events"

    def recipients(**params):
        return [e["recipient"] for e in get(live_server, key, path, **params).json()["results"]]

    assert recipients(type="click") == ["r1", "r3"]
    assert recipients(verdict="machine_open,scanner") == ["r2", "r3"]
    assert recipients(domain="b.test") == ["r1"]
    assert recipients(message="m1", type="open") == ["r1", "r2", "r1"]
    assert recipients(recipient="r3") == ["r3"]
    assert recipients(link="buy", verdict="human") == ["r1"]


def test_cursor_pages_through_everything_once(live_server, engagement_account):
    key, acct = engagement_account()
    events = [
        event("click", T0 + i * MIN, recipient=f"r{i}", link="a", account=acct) for i in range(23)
    ]
    record_live(live_server, events)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = get(live_server, key, "/api/v1/engagement/events", **params).json()
        seen += [e["id"] for e in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == sorted(e.id for e in events)


def test_garbled_cursor_is_refused(live_server, engagement_account):
    key, _ = engagement_account()
    r = get(live_server, key, "/api/v1/engagement/events", cursor="!!!")
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "'cursor' is not a cursor this API returned"


@pytest.mark.parametrize(
    "key",
    [
        "9223372036854775808:0190aa",  # one past the 64-bit column: OverflowError before
        "99999999999999999999999999:0190aa",
        "-1:0190aa",
        "1:",
        "1:a\x00b",  # NUL: PostgreSQL's text cannot hold it
        "\u00e9:0190aa",
    ],
)
def test_a_cursor_this_api_never_returns_is_refused_not_a_500(
    live_server, engagement_account, key
):
    api_key, _ = engagement_account()
    cursor = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
    r = get(live_server, api_key, "/api/v1/engagement/events", cursor=cursor)
    assert r.status_code == 422
    assert r.json() == {
        "errors": [
            {
                "code": "1300",
                "message": "invalid data format/type",
                "description": "'cursor' is not a cursor this API returned",
            }
        ]
    }


def test_unknown_verdict_is_refused(live_server, engagement_account):
    key, _ = engagement_account()
    r = get(live_server, key, "/api/v1/engagement/events", verdict="robot")
    assert r.status_code == 422


def test_events_of_other_accounts_are_not_listed(live_server, engagement_account):
    _, acct = engagement_account("acme")
    other_key, _ = engagement_account("other")
    record_live(live_server, mixed(acct))
    assert get(live_server, other_key, "/api/v1/engagement/events").json()["results"] == []


def test_ndjson_export_holds_the_range(live_server, engagement_account):
    key, acct = engagement_account()
    record_live(live_server, mixed(acct))
    r = get(live_server, key, "/api/v1/engagement/events/export", **{"from": FROM, "to": TO})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    listed = get(live_server, key, "/api/v1/engagement/events", **{"from": FROM, "to": TO})
    assert lines == listed.json()["results"]


def test_csv_export_has_a_header_and_a_row_per_event(live_server, engagement_account):
    key, acct = engagement_account()
    record_live(live_server, mixed(acct))
    r = get(
        live_server,
        key,
        "/api/v1/engagement/events/export",
        **{"from": FROM, "to": TO, "format": "csv", "type": "click"},
    )
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["recipient"], row["link"], row["verdict"]) for row in rows] == [
        ("r1", "buy", "human"),
        ("r3", "buy", "scanner"),
    ]


def test_export_needs_a_range(live_server, engagement_account):
    key, _ = engagement_account()
    r = get(live_server, key, "/api/v1/engagement/events/export", **{"from": FROM})
    assert r.status_code == 422
    assert r.json()["errors"][0]["description"] == "field 'to' is required"


def test_export_of_100000_events_streams_with_bounded_memory(live_server, engagement_account):
    key, acct = engagement_account()
    n = 100_000
    ua = event("open", T0).user_agent
    rows = [
        (
            f"{T0 * 1000 + i:014x}{i:024x}",
            "open",
            T0 + i * 100,
            acct,
            "a.test",
            f"m{i % 50}",
            f"r{i}",
            None,
            None,
            "203.0.113.77",
            ua,
            "GET",
            0,
            "human",
            "default",
        )
        for i in range(n)
    ]
    # STORED_FIELDS order, written as the ingester writes a batch.
    in_store(live_server.app.runtime.settings, lambda tx, rows=rows: tx.event_writer.insert(rows))
    del rows
    received = lines = 0
    with (
        RssSampler() as rss,
        api_client(live_server, key) as c,
        c.stream(
            "GET",
            "/api/v1/engagement/events/export",
            params={"from": FROM, "to": "2026-11-05T00:00:00Z"},
            timeout=120,
        ) as r,
    ):
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            received += len(chunk)
            lines += chunk.count(b"\n")
    assert lines == n
    # The body is tens of megabytes; server and client together never held more than a few
    # pages of it.
    assert received > 30_000_000
    # Holding the export (or its rows) in memory would add far more than the body's size.
    assert rss.growth < 20_000_000, rss.growth
