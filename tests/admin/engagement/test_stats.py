"""Stats against a hand-counted fixture: every number exact, with and without machine events.

The fixture (times from T0 = 2026-11-02T00:00Z, day 0 and day 1):

====  =======  ======  ===  =========  ======  =========================================
 #    type     when    msg  recipient  link    who (verdict)
====  =======  ======  ===  =========  ======  =========================================
 1    open     d0 10:00     m1  r1               person (human)
 10   initial  d0 10:00+.1  m1  r1               person (human)
 3    open     d0 10:00:05  m1  r2               Apple MPP (machine_open)
 9    click    d0 10:00:30  m1  r4     buy       Microsoft EOP (scanner)
 6    click    d0 10:05     m1  r1     buy       person (human)
 2    open     d0 10:30     m1  r1               person again (human)
 5    open     d0 11:00     m1  r3               Gmail proxy (proxy_open)
 7    click    d0 11:05     m1  r1     buy       person again (human)
 4    open     d0 12:00     m1  r2               person (human)
 8    click    d1 09:00     m1  r3     faq       person (human)
 11   open     d1 14:00     m2  r5               person (human)            domain b.test
 12   click    d1 14:10     m2  r5     a         burst: two links in 0.8 s (scanner)
 13   click    d1 14:10+.8  m2  r5     b         burst (scanner)
 14   click    d1 15:00     m2  r6     _honeypot honeypot (scanner)
 15   click    d1 15:00:30  m2  r6     a         same address after honeypot (scanner)
 16   click    d1 16:00     m2  r7     c         curl (bot)
 17   open     d1 16:00:01  m2  r7               HEAD request (scanner)
====  =======  ======  ===  =========  ======  =========================================

m1 is on a.test, campaign "spring", tag "news"; m2 on b.test, campaign "autumn".
"""

from __future__ import annotations

import asyncio

import pytest

from admin.engagement.stats import StatsError, StatsQuery, run_stats
from edge.db.repositories.events import EventFilter
from edge.events.rollup import Rollup
from edge.model.events import Event
from edge.model.labels import MessageLabels
from tests.fixtures_engagement import (
    APPLE_IP,
    APPLE_MPP,
    CURL,
    DAY,
    EOP_IP,
    GMAIL_IP,
    GMAIL_PROXY,
    HOUR,
    T0,
    event,
)

MIN = 60_000
SEC = 1000
OTHER_IP = "198.51.100.20"


def fixture_events() -> list:
    d1 = T0 + DAY
    b = {"message": "m2", "domain": "b.test"}
    return [
        event("open", T0 + 10 * HOUR, recipient="r1"),
        event("open", T0 + 10 * HOUR + 30 * MIN, recipient="r1"),
        event("open", T0 + 10 * HOUR + 5 * SEC, recipient="r2", ip=APPLE_IP, ua=APPLE_MPP),
        event("open", T0 + 12 * HOUR, recipient="r2"),
        event("open", T0 + 11 * HOUR, recipient="r3", ip=GMAIL_IP, ua=GMAIL_PROXY),
        event("click", T0 + 10 * HOUR + 5 * MIN, recipient="r1", link="buy"),
        event("click", T0 + 11 * HOUR + 5 * MIN, recipient="r1", link="buy"),
        event("click", d1 + 9 * HOUR, recipient="r3", link="faq"),
        event("click", T0 + 10 * HOUR + 30 * SEC, recipient="r4", link="buy", ip=EOP_IP),
        event("initial_open", T0 + 10 * HOUR + 100, recipient="r1"),
        event("open", d1 + 14 * HOUR, recipient="r5", **b),
        event("click", d1 + 14 * HOUR + 10 * MIN, recipient="r5", link="a", **b),
        event("click", d1 + 14 * HOUR + 10 * MIN + 800, recipient="r5", link="b", **b),
        event("click", d1 + 15 * HOUR, recipient="r6", link="_honeypot", ip=OTHER_IP, **b),
        event("click", d1 + 15 * HOUR + 30 * SEC, recipient="r6", link="a", ip=OTHER_IP, **b),
        event("click", d1 + 16 * HOUR, recipient="r7", link="c", ua=CURL, **b),
        event("open", d1 + 16 * HOUR + SEC, recipient="r7", method="HEAD", **b),
    ]


def metrics(opens, initial, uopens, machine, proxied, clicks, uclicks, scanner, bot, ctor) -> dict:
    return {
        "opens": opens,
        "initial_opens": initial,
        "unique_opens": uopens,
        "machine_opens": machine,
        "proxied_opens": proxied,
        "clicks": clicks,
        "unique_clicks": uclicks,
        "scanner_clicks": scanner,
        "bot_clicks": bot,
        "click_to_open_rate": ctor,
    }


@pytest.fixture
def db(engagement_db):
    engagement_db.record(fixture_events())

    async def label() -> None:
        async with engagement_db.store.transaction() as tx:
            for labels in (
                MessageLabels("m1", campaign="spring", tags=("news",)),
                MessageLabels("m2", campaign="autumn"),
            ):
                await tx.labels.replace(1, labels)

    engagement_db.run(label())
    return engagement_db


def stats(db, **kw) -> dict:
    kw.setdefault("top_links", 10)
    return db.run(run_stats(db.store, StatsQuery(1, T0, T0 + 2 * DAY, **kw)))


def stored_events(db) -> list:
    """Every stored event of every account, in time (and id) order."""

    async def read() -> list:
        async with db.store.reading() as repositories:
            return await repositories.events.page(EventFilter(None), limit=1000)

    return db.run(read())


def test_fixture_events_get_the_verdicts_of_the_table(db):
    rows = [(e.type, e.recipient, e.link, e.verdict, e.rule) for e in stored_events(db)]
    assert rows == [
        ("open", "r1", None, "human", "default"),
        ("initial_open", "r1", None, "human", "default"),
        ("open", "r2", None, "machine_open", "apple_mpp_ip"),
        ("click", "r4", "buy", "scanner", "microsoft_eop_ip"),
        ("click", "r1", "buy", "human", "default"),
        ("open", "r1", None, "human", "default"),
        ("open", "r3", None, "proxy_open", "gmail_proxy_ua"),
        ("click", "r1", "buy", "human", "default"),
        ("open", "r2", None, "human", "default"),
        ("click", "r3", "faq", "human", "default"),
        ("open", "r5", None, "human", "default"),
        ("click", "r5", "a", "scanner", "link_burst"),
        ("click", "r5", "b", "scanner", "link_burst"),
        ("click", "r6", "_honeypot", "scanner", "honeypot"),
        ("click", "r6", "a", "scanner", "honeypot"),
        ("click", "r7", "c", "bot", "crawlers_ua"),
        ("open", "r7", None, "scanner", "head_request"),
    ]


def test_totals_count_people_only_by_default(db):
    assert stats(db)["totals"] == metrics(5, 1, 4, 1, 1, 3, 2, 5, 1, 0.5)


def test_totals_with_machine_events(db):
    assert stats(db, include_machine=True)["totals"] == metrics(7, 1, 5, 1, 1, 9, 6, 5, 1, 1.2)


def test_daily_series(db):
    result = stats(db, group_by="day")
    assert result["series"] == [
        {"time": "2026-11-02T00:00:00Z", **metrics(4, 1, 3, 1, 1, 2, 1, 1, 0, 0.3333)},
        {"time": "2026-11-03T00:00:00Z", **metrics(1, 0, 1, 0, 0, 1, 1, 4, 1, 1.0)},
    ]
    assert result["totals"] == metrics(5, 1, 4, 1, 1, 3, 2, 5, 1, 0.5)


def test_hourly_series_puts_each_event_in_its_hour(db):
    result = db.run(
        run_stats(db.store, StatsQuery(1, T0 + 10 * HOUR, T0 + 13 * HOUR, group_by="hour"))
    )
    assert result["series"] == [
        {"time": "2026-11-02T10:00:00Z", **metrics(2, 1, 1, 1, 0, 1, 1, 1, 0, 1.0)},
        {"time": "2026-11-02T11:00:00Z", **metrics(1, 0, 1, 0, 1, 1, 0, 0, 0, 0.0)},
        {"time": "2026-11-02T12:00:00Z", **metrics(1, 0, 1, 0, 0, 0, 0, 0, 0, 0.0)},
    ]


def test_range_within_two_days_reads_hours(db):
    # 11:00 on day 0 to 15:00 on day 1: no whole day inside, hourly roll-ups only.
    q = StatsQuery(1, T0 + 11 * HOUR, T0 + DAY + 15 * HOUR)
    assert db.run(run_stats(db.store, q))["totals"] == metrics(3, 0, 3, 0, 1, 2, 1, 2, 0, 0.3333)


def test_range_with_a_whole_day_mixes_daily_and_hourly_rollups(db):
    # 11:00 the day before day 0 to 12:00 on day 1: day 0 from the daily roll-up, hours
    # on both sides from the hourly one.
    q = StatsQuery(1, T0 - 13 * HOUR, T0 + DAY + 12 * HOUR)
    assert db.run(run_stats(db.store, q))["totals"] == metrics(4, 1, 3, 1, 1, 3, 2, 1, 0, 0.6667)


def test_domain_filter(db):
    assert stats(db, domain="a.test")["totals"] == metrics(4, 1, 3, 1, 1, 3, 2, 1, 0, 0.6667)


def test_campaign_and_tag_filters(db):
    expected = metrics(4, 1, 3, 1, 1, 3, 2, 1, 0, 0.6667)
    assert stats(db, campaign="spring")["totals"] == expected
    assert stats(db, tag="news")["totals"] == expected
    assert stats(db, campaign="autumn")["totals"] == metrics(1, 0, 1, 0, 0, 0, 0, 4, 1, 0.0)


def test_message_filter(db):
    assert stats(db, message="m2", include_machine=True)["totals"] == metrics(
        2, 0, 2, 0, 0, 5, 3, 4, 1, 1.5
    )


def test_link_filter_narrows_clicks_and_keeps_opens(db):
    assert stats(db, link="buy")["totals"] == metrics(5, 1, 4, 1, 1, 2, 1, 1, 0, 0.25)


def test_top_links(db):
    assert stats(db)["top_links"] == [
        {"link": "buy", "clicks": 2, "unique_clicks": 1},
        {"link": "faq", "clicks": 1, "unique_clicks": 1},
    ]


def test_top_links_with_machine_events(db):
    assert stats(db, include_machine=True)["top_links"] == [
        {"link": "buy", "clicks": 3, "unique_clicks": 2},
        {"link": "a", "clicks": 2, "unique_clicks": 2},
        {"link": "_honeypot", "clicks": 1, "unique_clicks": 1},
        {"link": "b", "clicks": 1, "unique_clicks": 1},
        {"link": "c", "clicks": 1, "unique_clicks": 1},
        {"link": "faq", "clicks": 1, "unique_clicks": 1},
    ]


def test_other_accounts_events_are_not_counted(db):
    db.record([event("open", T0 + HOUR, account=2, recipient="x")])
    assert stats(db)["totals"] == metrics(5, 1, 4, 1, 1, 3, 2, 5, 1, 0.5)


def test_a_replayed_batch_is_not_counted_twice(db):
    db.record([Event(*stored.row()) for stored in stored_events(db)])
    assert len(stored_events(db)) == 17
    assert stats(db)["totals"] == metrics(5, 1, 4, 1, 1, 3, 2, 5, 1, 0.5)


def test_burst_caught_after_the_first_click_was_counted_moves_it(engagement_db):
    db = engagement_db
    t = T0 + 10 * HOUR
    db.record([event("open", t)])
    db.record([event("click", t + 5 * MIN, link="a")])
    assert stats(db)["totals"]["unique_clicks"] == 1
    db.record([event("click", t + 5 * MIN + 700, link="b")])
    assert stats(db)["totals"] == metrics(1, 0, 1, 0, 0, 0, 0, 2, 0, 0.0)
    # The person clicks for real later: the unique click is counted then.
    db.record([event("click", t + 20 * MIN, link="a")])
    totals = stats(db)["totals"]
    assert (totals["clicks"], totals["unique_clicks"], totals["scanner_clicks"]) == (1, 1, 2)
    keys = db.unique_keys()
    labels = db.query("SELECT id, verdict, rule FROM events ORDER BY id")
    assert [(verdict, rule, keys.get(id_, 0)) for id_, verdict, rule in labels] == [
        ("human", "default", 3),
        ("scanner", "link_burst", 8 | 32),
        ("scanner", "link_burst", 32),
        ("human", "default", 4 | 16),
    ]


@pytest.mark.parametrize(
    ("later", "its_keys"),
    [
        ("a", 4 | 16),  # the same link: its link key moves with the message's
        ("c", 4 | 16 | 32),  # another link, whose key it opened
    ],
    ids=["same-link", "other-link"],
)
def test_unique_click_moves_to_the_next_counted_click_when_a_late_burst_relabels_the_first(
    engagement_db, later, its_keys
):
    db = engagement_db
    t = T0 + 10 * HOUR
    db.record([event("click", t + 5 * MIN, link="a")])
    db.record([event("click", t + 30 * MIN, link=later)])
    # Late, 700 ms after the click on a: a link burst, so a's click was a scanner's.
    db.record([event("click", t + 5 * MIN + 700, link="b")])
    totals = stats(db)["totals"]
    assert (totals["clicks"], totals["unique_clicks"], totals["scanner_clicks"]) == (1, 1, 2)
    keys = db.unique_keys()
    labels = db.query("SELECT id, link, verdict FROM events ORDER BY id")
    assert [(link, verdict, keys.get(id_, 0)) for id_, link, verdict in labels] == [
        ("a", "scanner", 8 | 32),
        ("b", "scanner", 32),
        (later, "human", its_keys),
    ]


def test_unique_click_moves_to_the_next_counted_click_already_rolled_up(engagement_db):
    db = engagement_db
    t = T0 + 10 * HOUR
    db.record([event("click", t, link="a"), event("click", t + 10 * MIN, link="a")])
    # A honeypot click from the same address marks the address's clicks on the message.
    db.record([event("click", t + 11 * MIN, link="_honeypot")])
    totals = stats(db)["totals"]
    assert (totals["clicks"], totals["unique_clicks"], totals["scanner_clicks"]) == (0, 0, 3)


def test_unaligned_range_is_refused():
    with pytest.raises(StatsError) as info:
        StatsQuery(1, T0 + 1, T0 + DAY)
    assert info.value.field == "from"


def test_aligned_widens_the_range_to_whole_units():
    q = StatsQuery.aligned(1, T0 + 5 * HOUR + 1, T0 + DAY + 1, group_by="day")
    assert (q.start_ms, q.end_ms) == (T0, T0 + 2 * DAY)


def test_too_many_points_are_refused():
    with pytest.raises(StatsError):
        StatsQuery(1, T0, T0 + 100 * DAY, group_by="hour")


def test_two_workers_rolling_up_at_once_count_every_event_once(engagement_db):
    db = engagement_db
    db.record(fixture_events(), roll_up=False)

    async def both():
        # Two stores on one database: two worker processes (or nodes) as far as it knows.
        async with db.make_store() as one, db.make_store() as two:
            a, b = Rollup(one), Rollup(two)
            a.chunk = b.chunk = 3
            await asyncio.gather(a.catch_up(), b.catch_up())

    db.run(both())
    assert stats(db)["totals"] == metrics(5, 1, 4, 1, 1, 3, 2, 5, 1, 0.5)
    assert db.query("SELECT sum(events) FROM rollups_daily") == [(17,)]
