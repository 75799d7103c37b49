"""Retention: old raw events are pruned in batches; roll-ups, unique keys and stats stay."""

from __future__ import annotations

from admin.engagement.retention import Retention
from admin.engagement.stats import StatsQuery, run_stats
from edge.db.repositories.events import EventFilter
from tests.fixtures_engagement import DAY, HOUR, T0, event

NOW = T0 + 100 * DAY


def fixture(db) -> None:
    old = [event("open", T0 + HOUR, recipient=f"r{i}") for i in range(7)] + [
        event("click", T0 + 2 * HOUR, recipient="r0", link="buy")
    ]
    recent = [event("open", NOW - DAY, recipient="r1")]
    db.record(old + recent)


def totals(db, start: int, end: int) -> dict:
    return db.run(run_stats(db.store, StatsQuery(1, start, end)))["totals"]


def stored_events(db) -> list:
    async def read() -> list:
        async with db.store.reading() as repositories:
            return await repositories.events.page(EventFilter(None), limit=1000)

    return db.run(read())


def test_events_older_than_the_age_are_pruned_in_batches(engagement_db):
    fixture(engagement_db)
    retention = Retention(engagement_db.store, max_age_days=90)
    retention.batch_size = 3
    assert engagement_db.run(retention.prune(NOW)) == 8
    assert [e.ts_ms for e in stored_events(engagement_db)] == [NOW - DAY]


def test_stats_of_pruned_days_are_unchanged(engagement_db):
    fixture(engagement_db)
    before = totals(engagement_db, T0, T0 + DAY)
    engagement_db.run(Retention(engagement_db.store, max_age_days=90).prune(NOW))
    assert totals(engagement_db, T0, T0 + DAY) == before
    assert (before["opens"], before["unique_opens"], before["clicks"]) == (7, 7, 1)


def test_a_late_open_of_a_pruned_message_is_not_unique_again(engagement_db):
    fixture(engagement_db)
    engagement_db.run(Retention(engagement_db.store, max_age_days=90).prune(NOW))
    engagement_db.record([event("open", NOW, recipient="r3")])
    late = totals(engagement_db, NOW - NOW % DAY, NOW - NOW % DAY + DAY)
    assert (late["opens"], late["unique_opens"]) == (1, 0)


def test_events_not_yet_rolled_up_are_kept(engagement_db):
    engagement_db.record([event("open", T0 + HOUR)], roll_up=False)
    assert engagement_db.run(Retention(engagement_db.store, max_age_days=90).prune(NOW)) == 0
    assert len(stored_events(engagement_db)) == 1


def test_age_zero_keeps_everything(engagement_db):
    fixture(engagement_db)
    assert engagement_db.run(Retention(engagement_db.store, max_age_days=0).prune(NOW)) == 0
    assert len(stored_events(engagement_db)) == 9


def test_an_event_after_every_event_was_pruned_is_counted(engagement_db):
    """An idle installation: retention prunes every event; the next one is still counted (on
    SQLite it would take a pruned event's rowid, at or below the roll-up's mark)."""
    engagement_db.record([event("open", T0 + HOUR, recipient="r1")])
    assert engagement_db.run(Retention(engagement_db.store, max_age_days=90).prune(NOW)) == 1
    engagement_db.record([event("open", NOW, recipient="r2")])
    late = totals(engagement_db, NOW - NOW % DAY, NOW - NOW % DAY + DAY)
    assert (late["opens"], late["unique_opens"]) == (1, 1)
