"""Accounts and keys: operator keys, summaries, keys found by digest (both engines)."""

from __future__ import annotations

from edge.model.accounts import AccountSummary
from tests.stores import in_store


def test_an_operator_key_says_so_and_others_do_not(make_store):
    async def work(tx):
        acct = await tx.accounts.ensure("ops", now=1)
        op = await tx.accounts.insert_key(acct, "h-op", "aaaaaa", "ops", now=2, operator=True)
        plain = await tx.accounts.insert_key(acct, "h-plain", "bbbbbb", None, now=3)
        return op, plain

    op, plain = in_store(make_store, work)
    assert (op.operator, plain.operator) == (True, False)
    found = in_store(make_store, lambda db: db.accounts.active_key("h-op"), write=False)
    assert found == op
    listed = in_store(make_store, lambda db: db.accounts.keys(), write=False)
    assert [(k.id, k.operator) for k in listed] == [(op.id, True), (plain.id, False)]


def test_a_revoked_key_is_not_found_by_its_digest(make_store):
    async def work(tx):
        acct = await tx.accounts.ensure("acme", now=1)
        key = await tx.accounts.insert_key(acct, "h1", "aaaaaa", None, now=2)
        await tx.accounts.revoke_key(key.id, now=3)

    in_store(make_store, work)
    assert in_store(make_store, lambda db: db.accounts.active_key("h1"), write=False) is None


def test_summaries_count_active_keys_and_tracking_domains_by_account_name(make_store):
    async def work(tx):
        globex = await tx.accounts.ensure("globex", now=5)
        acme = await tx.accounts.ensure("acme", now=6)
        await tx.accounts.insert_key(acme, "h1", "aaaaaa", None, now=7)
        revoked = await tx.accounts.insert_key(acme, "h2", "bbbbbb", None, now=7)
        await tx.accounts.revoke_key(revoked.id, now=8)
        await tx.domains.insert(acme.id, "t1.acme.test", secure=True, now=9)
        await tx.domains.insert(acme.id, "t2.acme.test", secure=True, now=9)
        return acme, globex

    acme, globex = in_store(make_store, work)
    summaries = in_store(make_store, lambda db: db.accounts.summaries(), write=False)
    # The built-in account the default domain's links are signed for is one of them.
    assert [s.account.name for s in summaries] == ["acme", "default", "globex"]
    assert (summaries[0], summaries[2]) == (
        AccountSummary(acme, 6, 1, 2),
        AccountSummary(globex, 5, 0, 0),
    )
    assert in_store(make_store, lambda db: db.accounts.get(acme.id), write=False) == acme
    assert in_store(make_store, lambda db: db.accounts.get(99), write=False) is None
