"""The domain service on its own: what holds however many workers share the database."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from admin.accounts.service import Accounts
from admin.api.errors import Conflict
from admin.domains.service import DomainService
from admin.domains.validation import DomainRules
from edge.db.admin import AdminDatabase
from tests.fixtures_admin import FakeCname, FakeReach, RecordingProvisioner


def service(db: AdminDatabase) -> DomainService:
    rules = DomainRules()
    return DomainService(
        db, rules, FakeCname(), FakeReach(), RecordingProvisioner(), cname_target="edge.test"
    )


def test_two_workers_claiming_one_name_at_once_get_one_domain_and_one_409(tmp_path):
    path = tmp_path / "edge.sqlite3"

    async def race():
        async with AdminDatabase(path) as one, AdminDatabase(path) as two:
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
            rows = await one.fetchall("SELECT account_id, domain FROM tracking_domains")
            return results, rows

    results, rows = asyncio.run(race())
    created = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(created) == 1 and len(conflicts) == 9
    assert rows == [(created[0].account_id, "t.brand.com")]


def test_one_default_per_account_is_enforced_by_the_database_too(tmp_path):
    async def setup():
        async with AdminDatabase(tmp_path / "edge.sqlite3") as db:
            acct = await Accounts(db).ensure("a")
            svc = service(db)
            for name in ("one.brand.com", "two.brand.com"):
                await svc.create(acct, name)
            return acct

    acct = asyncio.run(setup())
    conn = sqlite3.connect(tmp_path / "edge.sqlite3")
    try:
        conn.execute("UPDATE tracking_domains SET is_default = 1 WHERE domain = 'one.brand.com'")
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "UPDATE tracking_domains SET is_default = 1 WHERE domain = 'two.brand.com'"
            )
        assert conn.execute(
            "SELECT count(*) FROM tracking_domains WHERE account_id = ? AND is_default = 1",
            (acct.id,),
        ).fetchone() == (1,)
    finally:
        conn.close()


def test_tracking_domain_for_prefers_the_assigned_then_the_default_served_domain(tmp_path):
    from admin.domains.sending import SendingDomains
    from admin.domains.service import set_compliance

    async def scenario():
        async with AdminDatabase(tmp_path / "edge.sqlite3") as db:
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


def test_the_served_rule_is_one_rule_in_python_sql_and_the_edge(tmp_path):
    import itertools

    from admin.api.errors import Blocked, Unverified
    from admin.domains.service import SERVED_SQL, TrackingDomain
    from edge.db.store import migrate
    from edge.model.domains import DomainRecord

    path = tmp_path / "edge.sqlite3"
    migrate(path)
    cnames = ("unverified", "pending", "valid", "invalid")
    compliances = ("pending", "valid", "blocked")
    with sqlite3.connect(path) as conn:
        for n, (cname, compliance) in enumerate(itertools.product(cnames, compliances)):
            conn.execute(
                "INSERT INTO tracking_domains (account_id, domain, cname_status, "
                "compliance_status) VALUES (1, ?, ?, ?)",
                (f"d{n}.brand.com", cname, compliance),
            )
        in_sql = {
            row[0]
            for row in conn.execute(f"SELECT d.domain FROM tracking_domains d WHERE {SERVED_SQL}")
        }
        rows = conn.execute(
            "SELECT id, domain, cname_status, compliance_status FROM tracking_domains"
        )
        outcomes = {}
        for ident, domain, cname, compliance in rows:
            tracking = TrackingDomain(
                ident, 1, domain, False, False, cname, None, compliance, "unavailable", 0, 0, None
            )
            edge = DomainRecord(ident, domain, 1, False, cname, compliance)
            try:
                tracking.require_served()
                refusal = None
            except (Unverified, Blocked) as exc:
                refusal = type(exc).__name__
            outcomes[domain] = (tracking.served, edge.served, domain in in_sql, refusal)
    served = {d for d, o in outcomes.items() if o[0]}
    assert served == {"d6.brand.com", "d7.brand.com"}  # valid, and not blocked
    assert all(o[0] == o[1] == o[2] for o in outcomes.values())
    assert outcomes["d7.brand.com"] == (True, True, True, None)  # valid / valid
    assert outcomes["d8.brand.com"] == (False, False, False, "Blocked")  # valid / blocked
    assert outcomes["d0.brand.com"] == (False, False, False, "Unverified")
