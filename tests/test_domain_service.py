"""The domain service on its own: what holds however many workers share the database."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from admin.accounts import Accounts
from admin.database import AdminDatabase
from admin.domains import DomainService
from admin.errors import Conflict
from admin.validation import DomainRules
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
