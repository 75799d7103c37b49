"""The domain service on its own: what holds however many workers share the database."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from admin.accounts.service import Accounts
from admin.api.errors import Conflict
from admin.domains.service import DomainService
from admin.domains.validation import DomainRules
from edge.db.store import Store
from tests.fixtures_admin import FakeCname, FakeReach, RecordingProvisioner
from tests.stores import in_store, store_at


def service(store: Store) -> DomainService:
    rules = DomainRules()
    return DomainService(
        store, rules, FakeCname(), FakeReach(), RecordingProvisioner(), cname_target="edge.test"
    )


def test_two_workers_claiming_one_name_at_once_get_one_claim_per_account_and_409s(tmp_path):
    path = tmp_path / "edge.sqlite3"

    async def race():
        async with store_at(path) as one, store_at(path) as two:
            a = await Accounts(one).ensure("a")
            b = await Accounts(two).ensure("b")
            results = await asyncio.gather(
                *(
                    svc.create(acct, "t.brand.com")
                    for _ in range(5)
                    for svc, acct in ((service(one), a), (service(two), b))
                ),
                return_exceptions=True,
            )
            async with one.reading() as db:
                rows = [(d.account_id, d.domain) for d in await db.domains.all()]
            return results, rows, {a.id, b.id}

    results, rows, accounts = asyncio.run(race())
    created = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    # An unverified claim keeps no other account from the name: each account has one.
    assert len(created) == 2 and len(conflicts) == 8
    assert sorted(rows) == sorted((c.account_id, "t.brand.com") for c in created)
    assert {c.account_id for c in created} == accounts


def test_one_default_per_account_is_enforced_by_the_database_too(tmp_path):
    async def setup():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            acct = await Accounts(store).ensure("a")
            svc = service(store)
            return acct, [
                (await svc.create(acct, n)).id for n in ("one.brand.com", "two.brand.com")
            ]

    acct, (one, two) = asyncio.run(setup())
    path = tmp_path / "edge.sqlite3"

    # set_flags does not clear the account's other default (the service does that first):
    # only the database's unique index stands in the way of a second one.
    async def make_default(tx, domain_id):
        await tx.domains.set_flags(domain_id, secure=None, default=True, now=0)

    in_store(path, lambda tx: make_default(tx, one))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        in_store(path, lambda tx: make_default(tx, two))
    domains = in_store(path, lambda db: db.domains.in_account(acct.id), write=False)
    assert [d.domain for d in domains if d.is_default] == ["one.brand.com"]


def test_tracking_domain_for_prefers_the_assigned_then_the_default_served_domain(tmp_path):
    from admin.domains.sending import SendingDomains
    from admin.domains.service import set_compliance

    async def scenario():
        async with store_at(tmp_path / "edge.sqlite3") as db:
            accounts = Accounts(db)
            a, b = await accounts.ensure("a"), await accounts.ensure("b")
            svc = service(db)
            sending = SendingDomains(db, DomainRules())
            names = {}
            for name in ("assigned.brand.com", "default.brand.com", "other.b.com"):
                owner = b if name == "other.b.com" else a
                created = await svc.create(owner, name)
                svc.cname.point(name)
                await svc.verify(owner, created.id)
                names[name] = created.id
            await svc.update(a, "default.brand.com", default=True)
            await sending.create(a, "mail.brand.com", names["assigned.brand.com"])
            await sending.create(b, "mail.b.com", names["other.b.com"])

            async def pick(account, sender):
                found = await sending.tracking_domain_for(account, sender)
                return found.domain if found else None

            picks = [
                await pick(a, "news@Mail.Brand.com"),
                await pick(a, "mail.brand.com"),
                await pick(a, "unknown.example"),
                await pick(a, None),
                await pick(a, "mail.b.com"),  # b's sending domain: not a's
                await pick(b, "mail.brand.com"),  # a's sending domain: b has no default
            ]
            await set_compliance(db, "assigned.brand.com", blocked=True)
            picks.append(await pick(a, "mail.brand.com"))
            return picks

    assert asyncio.run(scenario()) == [
        "assigned.brand.com",
        "assigned.brand.com",
        "default.brand.com",
        "default.brand.com",
        "default.brand.com",
        None,
        "default.brand.com",
    ]


def test_require_served_refuses_exactly_the_domains_the_served_rule_does_not_serve(tmp_path):
    """Links, defaults and certificates (require_served) follow the one served rule, in
    Python (is_served) and in SQL (the served_tracking_domains view), in every state."""
    import itertools

    from admin.api.errors import Blocked, Unverified
    from admin.domains.service import require_served
    from edge.model.domains import CnameStatus, ComplianceStatus, is_served

    combinations = list(itertools.product(CnameStatus, ComplianceStatus))

    async def store_every_state(tx):
        for n, (cname, compliance) in enumerate(combinations):
            domain_id = await tx.domains.insert(1, f"d{n}.brand.com", secure=False, now=0)
            # Every combination, reachable through the API or not: no repository sets a
            # state outright.
            await tx.conn.execute(
                "UPDATE tracking_domains SET cname_status = ?, compliance_status = ? WHERE id = ?",
                (cname, compliance, domain_id),
            )

    async def read(db):
        rows = await db.conn.fetchall("SELECT domain FROM served_tracking_domains")
        return await db.domains.all(), {row[0] for row in rows}

    path = tmp_path / "edge.sqlite3"
    in_store(path, store_every_state)
    domains, in_sql = in_store(path, read, write=False)
    outcomes = {}
    for tracking in domains:
        try:
            require_served(tracking)
            refusal = None
        except (Unverified, Blocked) as exc:
            refusal = type(exc).__name__
        rule = is_served(tracking.cname_status, tracking.compliance_status)
        outcomes[(tracking.cname_status, tracking.compliance_status)] = (
            rule,
            tracking.served,
            tracking.domain in in_sql,
            refusal,
        )
    assert len(outcomes) == len(combinations) == 12
    served = {state for state, o in outcomes.items() if o[0]}
    assert served == {("valid", "pending"), ("valid", "valid")}  # valid, and not blocked
    assert all(o[0] == o[1] == o[2] == (o[3] is None) for o in outcomes.values())
    assert outcomes[("valid", "valid")] == (True, True, True, None)
    assert outcomes[("valid", "blocked")] == (False, False, False, "Blocked")
    assert outcomes[("unverified", "blocked")] == (False, False, False, "Unverified")
    assert outcomes[("unverified", "pending")] == (False, False, False, "Unverified")


@pytest.fixture(params=["sqlite", "postgres"])
def shared_store(request, tmp_path):
    """A factory of stores on one database, as separate worker processes have them."""
    if request.param == "sqlite":
        return lambda: store_at(tmp_path / "edge.sqlite3")
    from edge.db.postgres.store import PostgresStore

    url = request.getfixturevalue("pg_url")
    return lambda: PostgresStore(url, node="a")


def test_two_accounts_proving_control_at_once_leave_one_verified(shared_store):
    """However the checks interleave (a CNAME that changed between them), the name ends with
    one owner: each verification takes it in turn, and the other account's row is withdrawn."""

    async def race():
        async with shared_store() as one, shared_store() as two:
            a = await Accounts(one).ensure("a")
            b = await Accounts(two).ensure("b")
            services = {a.id: service(one), b.id: service(two)}
            ids = {}
            for account in (a, b):
                ids[account.id] = (await services[account.id].create(account, "t.brand.com")).id
                services[account.id].cname.point("t.brand.com")  # right for any account
            for _ in range(5):
                await asyncio.gather(
                    services[a.id].verify(a, ids[a.id]), services[b.id].verify(b, ids[b.id])
                )
            async with one.reading() as db:
                return await db.domains.named("t.brand.com")

    claims = asyncio.run(race())
    assert len(claims) == 2
    assert sorted(d.cname_status for d in claims) == ["invalid", "valid"]
    loser = next(d for d in claims if not d.verified)
    assert loser.cname_reason == (
        "t.brand.com was verified by another account: its CNAME points to that account's target"
    )


def test_verifying_keeps_an_operator_block_on_the_name(tmp_path):
    """A name the operator blocked stays blocked when another account proves control of it."""
    from admin.domains.service import set_compliance

    async def scenario():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            svc = service(store)
            a = await Accounts(store).ensure("a")
            b = await Accounts(store).ensure("b")
            mine = await svc.create(a, "t.brand.com")
            theirs = await svc.create(b, "t.brand.com")
            svc.cname.point("t.brand.com")
            await svc.verify(a, mine.id)
            await set_compliance(store, "t.brand.com", blocked=True)
            await svc.create(b, "u.brand.com")  # unrelated: stays unblocked
            return await svc.verify(b, theirs.id), await svc.get(b, "u.brand.com")

    taken, other = asyncio.run(scenario())
    assert (taken.verified, taken.compliance_status, taken.served) == (True, "blocked", False)
    assert other.compliance_status == "pending"


@pytest.mark.parametrize("away", ["deleted", "renamed"])
def test_a_blocked_name_claimed_again_after_its_row_went_away_stays_blocked(tmp_path, away):
    """The operator's block is on the name: deleting the blocked domain, or renaming it, and
    claiming the name again does not lift it."""
    from admin.domains.service import set_compliance

    async def scenario():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            svc = service(store)
            a = await Accounts(store).ensure("a")
            first = await svc.create(a, "t.brand.com")
            svc.cname.point("t.brand.com")
            await svc.verify(a, first.id)
            await set_compliance(store, "t.brand.com", blocked=True)
            if away == "deleted":
                await svc.delete(a, first.id)
            else:
                await svc.rename(a, first.id, "parked.brand.com")
            again = await svc.create(a, "t.brand.com")
            return await svc.verify(a, again.id)

    again = asyncio.run(scenario())
    assert (again.verified, again.compliance_status, again.served) == (True, "blocked", False)


def test_a_name_no_domain_claims_any_more_can_be_unblocked(tmp_path):
    from admin.domains.service import set_compliance

    async def scenario():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            svc = service(store)
            a = await Accounts(store).ensure("a")
            first = await svc.create(a, "t.brand.com")
            await set_compliance(store, "t.brand.com", blocked=True)
            await svc.delete(a, first.id)
            status = await set_compliance(store, "t.brand.com", blocked=False)
            again = await svc.create(a, "t.brand.com")
            svc.cname.point("t.brand.com")
            return status, await svc.verify(a, again.id)

    status, again = asyncio.run(scenario())
    assert status == "pending"
    assert (again.compliance_status, again.served) == ("valid", True)


def test_a_domain_verified_while_blocked_asks_for_its_certificate_when_unblocked(tmp_path):
    from admin.domains.service import set_compliance

    async def scenario():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            svc = service(store)
            a = await Accounts(store).ensure("a")
            mine = await svc.create(a, "t.brand.com")
            await set_compliance(store, "t.brand.com", blocked=True)
            svc.cname.point("t.brand.com")
            blocked = await svc.verify(a, mine.id)
            await set_compliance(store, "t.brand.com", blocked=False)
            async with store.reading() as db:
                due = await db.certificates.due(time.time(), renew_before_expiry=None)
            return blocked, await svc.get(a, mine.id), due

    blocked, unblocked, due = asyncio.run(scenario())
    assert (blocked.ssl_status, blocked.served) == ("unavailable", False)
    assert (unblocked.ssl_status, unblocked.served) == ("provisioning", True)
    assert due == [(unblocked.id, "t.brand.com")]
