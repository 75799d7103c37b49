"""Per-account privacy switches, applied by the event writer at record time."""

from __future__ import annotations

import pytest

from edge.model.events import StoredEvent
from edge.model.privacy import PrivacySettings, truncate_address
from tests.fixtures_engagement import EOP_IP, T0, EngagementDB, event
from tests.stores import every_event


def settings(db: EngagementDB, account: int, **values) -> None:
    """Create account ``account`` with these switches, as the admin API does."""

    async def put() -> None:
        async with db.store.transaction() as tx:
            created = await tx.accounts.ensure(f"acct{account}", now=0)
            assert created.id == account
            await tx.privacy.put(account, PrivacySettings(**values), now=0)

    db.run(put())
    db.preparer.settings_changed()


def stored(db: EngagementDB) -> list[StoredEvent]:
    """Every stored event, in time order."""

    async def read() -> list[StoredEvent]:
        async with db.store.reading() as repositories:
            return await every_event(repositories)

    return db.run(read())


def test_ipv4_address_is_truncated_to_its_24():
    assert truncate_address("203.0.113.77") == "203.0.113.0"


def test_ipv6_address_is_truncated_to_its_48():
    assert truncate_address("2001:db8:1234:5678::1") == "2001:db8:1234::"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        PrivacySettings(client_ip="hashed")


def test_default_keeps_address_and_user_agent(engagement_db):
    engagement_db.record([event("open", T0)])
    assert [(e.client_ip, e.user_agent) for e in stored(engagement_db)] == [
        ("203.0.113.77", event("open", T0).user_agent)
    ]


def test_truncated_addresses_are_stored_as_their_network(engagement_db):
    settings(engagement_db, 2, client_ip="truncated")
    engagement_db.record([event("open", T0, account=2)])
    assert [(e.client_ip,) for e in stored(engagement_db)] == [("203.0.113.0",)]


def test_dropped_address_and_agent_are_never_stored(engagement_db):
    settings(engagement_db, 2, client_ip="none", user_agent="none")
    engagement_db.record([event("open", T0, account=2)])
    assert [(e.client_ip, e.user_agent) for e in stored(engagement_db)] == [(None, None)]


def test_classification_uses_the_address_before_it_is_dropped(engagement_db):
    settings(engagement_db, 2, client_ip="none")
    engagement_db.record([event("click", T0, link="a", ip=EOP_IP, account=2)])
    assert [(e.client_ip, e.verdict, e.rule) for e in stored(engagement_db)] == [
        (None, "scanner", "microsoft_eop_ip")
    ]


def test_open_tracking_off_records_no_opens_but_clicks(engagement_db):
    settings(engagement_db, 2, track_opens=False)
    engagement_db.record(
        [event("open", T0, account=2), event("click", T0 + 60_000, link="a", account=2)]
    )
    assert [(e.type,) for e in stored(engagement_db)] == [("click",)]


def test_click_tracking_off_records_no_clicks(engagement_db):
    settings(engagement_db, 2, track_clicks=False)
    engagement_db.record(
        [event("open", T0, account=2), event("click", T0 + 60_000, link="a", account=2)]
    )
    assert [(e.type,) for e in stored(engagement_db)] == [("open",)]


def test_settings_of_one_account_leave_others_alone(engagement_db):
    settings(engagement_db, 2, client_ip="none")
    engagement_db.record([event("open", T0, account=1)])
    assert [(e.client_ip,) for e in stored(engagement_db)] == [("203.0.113.77",)]
