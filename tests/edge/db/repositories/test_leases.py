"""Job leases: one holder per interval across every process and node."""

from __future__ import annotations

from tests.stores import in_store


def take(make_store, owner: str, now: float, until: float) -> bool:
    return in_store(make_store, lambda tx: tx.leases.take("job", owner, now=now, until=until))


def test_the_first_taker_holds_the_lease_and_others_are_refused_until_it_ends(make_store):
    assert take(make_store, "a", 100.0, 110.0)
    assert not take(make_store, "b", 105.0, 115.0)
    assert take(make_store, "b", 110.0, 120.0)  # a's lease is over


def test_the_holder_may_take_its_lease_again(make_store):
    assert take(make_store, "a", 100.0, 110.0)
    assert take(make_store, "a", 101.0, 111.0)
    assert not take(make_store, "b", 110.5, 120.0)  # extended to 111
