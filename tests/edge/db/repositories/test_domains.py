"""The tracking-domain repository: the served view, the change counter, state changes."""

from __future__ import annotations

import asyncio
import itertools

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
