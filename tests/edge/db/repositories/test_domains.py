"""The tracking-domain repository: the served view, the change counter, state changes, and
who may hold a name (several claims, one verified owner), on both engines."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3

import asyncpg
import pytest

from edge.db.repositories.domains import SERVED
from edge.model.domains import CnameStatus, ComplianceStatus, is_served
from tests.stores import in_store


def test_the_served_view_states_the_served_rule_for_every_state(make_store):
    states = list(itertools.product(CnameStatus, ComplianceStatus))

    async def go():
        async with make_store() as store:
            async with store.transaction() as tx:
                for n, (cname, compliance) in enumerate(states):
                    await tx.conn.execute(
                        "INSERT INTO tracking_domains (account_id, domain, cname_status, "
                        "compliance_status) VALUES (1, ?, ?, ?)",
                        (f"d{n}.test", cname, compliance),
                    )
            async with store.reading() as db:
                rows = await db.conn.fetchall(f"SELECT domain FROM {SERVED}")
                every = await db.domains.all()
        return {r[0] for r in rows}, every

    served_in_sql, every = asyncio.run(go())
    expected = {f"d{n}.test" for n, (c, s) in enumerate(states) if is_served(c, s)}
    assert served_in_sql == expected
    assert {d.domain for d in every if d.served} == expected
    assert len(expected) == 2  # valid and not blocked: compliance pending or valid


def test_every_change_to_a_tracking_domain_moves_the_change_counter(make_store):
    path = make_store
    versions = [in_store(path, lambda db: db.domains.version(), write=False)]
    domain_id = in_store(path, lambda tx: tx.domains.insert(1, "a.test", secure=False, now=1))
    versions.append(in_store(path, lambda db: db.domains.version(), write=False))
    in_store(path, lambda tx: tx.domains.set_compliance(domain_id, blocked=True, now=2))
    versions.append(in_store(path, lambda db: db.domains.version(), write=False))
    in_store(path, lambda tx: tx.domains.delete(domain_id))
    versions.append(in_store(path, lambda db: db.domains.version(), write=False))
    assert versions == [0, 1, 2, 3]


def test_renaming_resets_verification_default_and_ssl_but_keeps_a_block(make_store):
    path = make_store

    async def setup(tx):
        domain_id = await tx.domains.insert(1, "a.test", secure=True, now=1)
        await tx.domains.mark_valid(domain_id, "ok", checked=1.5, now=1)
        await tx.domains.set_flags(domain_id, secure=None, default=True, now=1)
        await tx.domains.set_compliance(domain_id, blocked=True, now=2)
        await tx.domains.rename(domain_id, "b.test", now=3)
        return await tx.domains.get(domain_id)

    renamed = in_store(path, setup)
    assert (
        renamed.domain, renamed.cname_status, renamed.cname_reason, renamed.checked_at,
        renamed.is_default, renamed.ssl_status, renamed.compliance_status, renamed.updated_at,
    ) == ("b.test", "unverified", None, None, False, "unavailable", "blocked", 3)  # fmt: skip


def test_a_recheck_is_claimed_by_one_caller_only(make_store):
    path = make_store
    domain_id = in_store(path, lambda tx: tx.domains.insert(1, "a.test", secure=False, now=1))

    async def claim_twice(tx):
        return [
            await tx.domains.claim_recheck(domain_id, None, 10.0),
            await tx.domains.claim_recheck(domain_id, None, 11.0),
            await tx.domains.claim_recheck(domain_id, 10.0, 12.0),
        ]

    assert in_store(path, claim_twice) == [True, False, True]


#: What each engine raises when a unique index refuses a row.
UNIQUE_VIOLATION = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)


def _accounts(path, *names: str) -> list[int]:
    async def make(tx):
        return [(await tx.accounts.ensure(n, now=1)).id for n in names]

    return in_store(path, make)


def test_several_accounts_may_claim_a_name_but_each_only_once(make_store):
    a, b = _accounts(make_store, "a", "b")
    in_store(make_store, lambda tx: tx.domains.insert(a, "go.test", secure=False, now=1))
    in_store(make_store, lambda tx: tx.domains.insert(b, "go.test", secure=False, now=1))
    with pytest.raises(UNIQUE_VIOLATION):
        in_store(make_store, lambda tx: tx.domains.insert(a, "go.test", secure=False, now=2))
    claims = in_store(make_store, lambda db: db.domains.named("go.test"), write=False)
    assert [d.account_id for d in claims] == [a, b]


def test_the_schema_allows_one_verified_row_per_name(make_store):
    a, b = _accounts(make_store, "a", "b")

    async def claim_and_verify(tx, account_id):
        domain_id = await tx.domains.insert(account_id, "go.test", secure=False, now=1)
        await tx.domains.mark_valid(domain_id, "ok", checked=1.0, now=1)

    in_store(make_store, lambda tx: claim_and_verify(tx, a))
    # mark_valid alone does not take the name from a (the service does that first): only
    # the partial unique index stands in the way of a second verified row.
    with pytest.raises(UNIQUE_VIOLATION):
        in_store(make_store, lambda tx: claim_and_verify(tx, b))
    owner = in_store(make_store, lambda db: db.domains.owner("go.test"), write=False)
    assert owner is not None and owner.account_id == a


def test_a_name_is_taken_for_an_account_by_an_owner_or_its_own_claim_only(make_store):
    a, b, c = _accounts(make_store, "a", "b", "c")

    async def taken(db):
        return [await db.domains.taken_for(x, "go.test") for x in (a, b, c)]

    in_store(make_store, lambda tx: tx.domains.insert(b, "go.test", secure=False, now=1))
    assert in_store(make_store, taken, write=False) == [False, True, False]

    async def c_verifies(tx):
        domain_id = await tx.domains.insert(c, "go.test", secure=False, now=1)
        await tx.domains.mark_valid(domain_id, "ok", checked=1.0, now=1)

    in_store(make_store, c_verifies)
    assert in_store(make_store, taken, write=False) == [True, True, True]


def test_taking_over_a_name_withdraws_it_from_the_previous_owner(make_store):
    a, b = _accounts(make_store, "a", "b")

    async def setup(tx):
        old = await tx.domains.insert(a, "go.test", secure=False, now=1)
        await tx.domains.mark_valid(old, "ok", checked=1.0, now=1)
        await tx.domains.set_flags(old, secure=None, default=True, now=1)
        await tx.domains.set_ssl_status(old, "active", now=1)
        new = await tx.domains.insert(b, "go.test", secure=False, now=1)
        taken = await tx.domains.take_over(new, "go.test", "moved", checked=2.0, now=2)
        await tx.domains.mark_valid(new, "ok", checked=2.0, now=2)
        return taken, await tx.domains.get(old), await tx.domains.owner("go.test")

    taken, old, owner = in_store(make_store, setup)
    assert taken == 1
    assert (old.cname_status, old.cname_reason, old.is_default, old.ssl_status) == (
        "invalid", "moved", False, "unavailable",
    )  # fmt: skip
    assert owner is not None and owner.account_id == b


def _certificate(name: str) -> tuple[str, tuple[str, ...]]:
    return (
        "INSERT INTO certificates (domain, chain_pem, key_pem, serial, issuer, not_before, "
        "not_after) VALUES (?, 'chain', 'key', '01', 'CA', 0, 1)",
        (name,),
    )


def _certified(db) -> object:
    return db.conn.fetchall("SELECT domain FROM certificates ORDER BY domain")


def test_a_claim_leaving_a_name_keeps_the_owners_certificate(make_store):
    owner, one, two = _accounts(make_store, "owner", "one", "two")

    async def setup(tx):
        ids = {}
        for account_id in (owner, one, two):
            ids[account_id] = await tx.domains.insert(account_id, "go.test", secure=False, now=1)
        await tx.domains.mark_valid(ids[owner], "ok", checked=1.0, now=1)
        await tx.conn.execute(*_certificate("go.test"))
        return ids

    ids = in_store(make_store, setup)
    in_store(make_store, lambda tx: tx.domains.delete(ids[one]))
    in_store(make_store, lambda tx: tx.domains.rename(ids[two], "elsewhere.test", now=2))
    assert in_store(make_store, _certified, write=False) == [("go.test",)]
    in_store(make_store, lambda tx: tx.domains.delete(ids[owner]))  # the owner goes: so does it
    assert in_store(make_store, _certified, write=False) == []


def test_the_ssl_view_shows_a_certificate_only_on_a_row_that_has_one(make_store):
    owner, claimant = _accounts(make_store, "owner", "claimant")

    async def setup(tx):
        mine = await tx.domains.insert(owner, "go.test", secure=False, now=1)
        await tx.domains.mark_valid(mine, "ok", checked=1.0, now=1)
        await tx.domains.set_ssl_status(mine, "active", now=1)
        await tx.conn.execute(*_certificate("go.test"))
        theirs = await tx.domains.insert(claimant, "go.test", secure=False, now=1)
        return mine, theirs

    mine, theirs = in_store(make_store, setup)

    async def views(db):
        return await db.certificates.ssl_of(mine), await db.certificates.ssl_of(theirs)

    owner_view, claim_view = in_store(make_store, views, write=False)
    assert (owner_view.status, owner_view.issuer) == ("active", "CA")
    assert (claim_view.status, claim_view.issuer, claim_view.not_after) == (
        "unavailable", None, None,
    )  # fmt: skip


def test_every_account_has_its_own_cname_label_that_stays(make_store):
    async def make(tx):
        made = [await tx.accounts.ensure(n, now=1) for n in ("a", "b", "c")]
        again = await tx.accounts.ensure("a", now=2)
        return made, again, await tx.accounts.get(made[1].id), await tx.accounts.by_name("c")

    (a, b, c), again, b_read, c_read = in_store(make_store, make)
    builtin = in_store(make_store, lambda db: db.accounts.get(1), write=False)
    labels = [x.cname_label for x in (builtin, a, b, c)]
    assert all(re.fullmatch(r"[0-9a-f]{20}", label) for label in labels)
    assert len(set(labels)) == 4
    assert (again, b_read, c_read) == (a, b, c)
