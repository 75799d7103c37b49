"""The certificate lifecycle across processes: one issuance per name, leases, backoff."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from admin.ssl.issuance import IssuanceError, IssuedCertificate
from admin.ssl.lifecycle import CertificateManager
from admin.ssl.local_ca import LocalCA
from edge.db.store import Store
from edge.model.domains import SslStatus
from tests.fixtures_https import add_domain
from tests.stores import in_store, store_at

NAME = "track.brand.test"


class GatedIssuer:
    """The local CA behind a gate the test opens; counts the certificates it issued."""

    name = "gated"

    def __init__(self, ca: LocalCA) -> None:
        self.ca = ca
        self.gate = asyncio.Event()
        self.issued = 0
        self.started = asyncio.Event()

    async def issue(self, domain: str) -> IssuedCertificate:
        self.started.set()
        await self.gate.wait()
        self.issued += 1
        return await self.ca.issue(domain)


class RefusingIssuer:
    name = "refusing"

    async def issue(self, domain: str) -> IssuedCertificate:
        raise IssuanceError("rejectedIdentifier: no")


@pytest.fixture
def db_path(settings):
    """Where the store is: the settings' engine (SQLite in its data directory, or the test's
    PostgreSQL database)."""
    return settings


async def _manager(path, issuer, **kw) -> CertificateManager:
    store = store_at(path)
    await store.open()
    return CertificateManager(store, issuer, None, **kw)


def _job(path, name: str = NAME) -> tuple:
    # Raw: no repository reads a job's lease owner.
    sql = "SELECT attempts, lease_owner, reason FROM certificate_jobs WHERE domain = ?"
    rows = in_store(path, lambda db: db.conn.fetchall(sql, (name,)), write=False)
    return rows[0] if rows else None


def _leased_to(path, owner: str, until: float) -> None:
    """Another process holds the job of NAME, leased until ``until``, and is issuing."""

    async def lease(tx) -> None:
        assert await tx.certificates.take_lease(NAME, owner, until=until, now=time.time())
        (domain,) = await tx.domains.named(NAME)
        await tx.domains.set_ssl_status(domain.id, SslStatus.PROVISIONING, now=int(time.time()))

    in_store(path, lease)


def test_two_processes_never_issue_for_one_name_at_once(settings, db_path):
    domain_id = add_domain(settings, NAME)

    async def scenario() -> tuple[int, int]:
        ca = LocalCA(settings.data_dir / "local-ca")
        first, second = GatedIssuer(ca), GatedIssuer(ca)
        # Two managers on their own connections: two worker processes as far as SQLite knows.
        a = await _manager(db_path, first)
        b = await _manager(db_path, second)
        await a.provision(domain_id, force=True)
        await first.started.wait()  # a holds the lease, and is issuing
        await b.provision(domain_id, force=True)
        await b.idle()  # b found the lease taken and left it to a
        first.gate.set()
        second.gate.set()
        await a.idle()
        await a.store.close()
        await b.store.close()
        return first.issued, second.issued

    assert asyncio.run(scenario()) == (1, 0)
    domains = in_store(db_path, lambda db: db.domains.all(), write=False)
    assert [d.ssl_status for d in domains] == ["active"]


def test_lease_of_a_crashed_process_is_taken_over_when_it_expires(settings, db_path):
    domain_id = add_domain(settings, NAME)
    _leased_to(db_path, "dead", time.time() - 1)

    async def scenario() -> list[str]:
        m = await _manager(db_path, LocalCA(settings.data_dir / "local-ca"))
        started = await m.run_due()
        await m.idle()
        await m.store.close()
        return started

    assert asyncio.run(scenario()) == [NAME]
    assert _job(db_path) == (0, None, None)
    del domain_id


def test_live_lease_of_another_process_is_left_alone(settings, db_path):
    add_domain(settings, NAME)
    _leased_to(db_path, "b", time.time() + 60)

    async def scenario() -> list[str]:
        m = await _manager(db_path, LocalCA(settings.data_dir / "local-ca"))
        started = await m.run_due()
        await m.store.close()
        return started

    assert asyncio.run(scenario()) == []


def test_each_failure_doubles_the_wait_up_to_the_maximum(settings, db_path):
    domain_id = add_domain(settings, NAME)

    async def scenario() -> list[float]:
        m = await _manager(db_path, RefusingIssuer(), retry_base=10.0, retry_max=35.0)
        waits = []
        for _ in range(4):
            await _retry_now(m.store)
            before = time.time()
            if not waits:
                await m.provision(domain_id)
            else:
                await m.run_due()
            await m.idle()
            async with m.store.reading() as db:
                at = (await db.certificates.job_times(NAME)).next_attempt_at
            waits.append(round(at - before))
        info = await m.status(domain_id)
        await m.store.close()
        assert (info.status, info.reason) == ("failed", "rejectedIdentifier: no")
        return waits

    assert asyncio.run(scenario()) == [10, 20, 35, 35]


def test_renewal_failure_keeps_a_valid_certificate_active(settings, db_path):
    domain_id = add_domain(settings, NAME)

    async def scenario() -> str:
        ca = LocalCA(settings.data_dir / "local-ca", validity=timedelta(days=10))
        m = await _manager(db_path, ca)
        await m.provision(domain_id)
        await m.idle()
        m.issuer = RefusingIssuer()
        assert await m.run_due() == [NAME]  # 10 days left: inside the 30-day window
        await m.idle()
        info = await m.status(domain_id)
        await m.store.close()
        return info.status

    assert asyncio.run(scenario()) == "active"
    assert _job(db_path)[0] == 1  # the failed renewal is scheduled for a retry


def test_certificate_issued_after_a_rename_is_discarded(settings, db_path):
    domain_id = add_domain(settings, NAME)

    async def scenario() -> None:
        issuer = GatedIssuer(LocalCA(settings.data_dir / "local-ca"))
        m = await _manager(db_path, issuer)
        await m.provision(domain_id)
        await issuer.started.wait()
        # Renamed behind the manager's back (as by another worker): it is not told.
        async with m.store.transaction() as tx:
            await tx.domains.rename(domain_id, "renamed.brand.test", now=int(time.time()))
        issuer.gate.set()
        await m.idle()
        await m.store.close()

    asyncio.run(scenario())
    assert in_store(db_path, lambda db: db.certificates.all(), write=False) == []


async def _retry_now(store: Store) -> None:
    """Time passes: the job's retry is due (no repository moves it but a failure)."""
    async with store.transaction() as tx:
        await tx.conn.execute("UPDATE certificate_jobs SET next_attempt_at = 0")


def _service_with(store: Store, manager: CertificateManager):
    from admin.domains.service import DomainService
    from admin.domains.validation import DomainRules
    from tests.fixtures_admin import FakeCname, FakeReach

    cname = FakeCname()
    cname.point(NAME)
    return DomainService(
        store, DomainRules(), cname, FakeReach(), manager, cname_target="edge.test"
    )


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_rename_or_delete_cancels_the_issuance_running_for_the_old_name(settings, db_path, change):
    from admin.accounts.service import Accounts

    async def scenario() -> tuple[int, bool, list]:
        issuer = GatedIssuer(LocalCA(settings.data_dir / "local-ca"))
        m = await _manager(db_path, issuer)
        service = _service_with(m.store, m)
        account = await Accounts(m.store).ensure("acme")
        created = await service.create(account, NAME)
        await service.verify(account, created.id)  # starts issuing for NAME
        await issuer.started.wait()
        if change == "rename":
            await service.rename(account, created.id, "renamed.brand.test")
        else:
            await service.delete(account, created.id)
        running = bool(m._running)  # the task for the old name is gone
        issuer.gate.set()  # an issuance still running would now get its certificate
        await m.idle()
        # Raw: no repository lists the jobs.
        async with m.store.reading() as db:
            jobs = await db.conn.fetchall("SELECT domain FROM certificate_jobs")
        await m.store.close()
        return issuer.issued, running, jobs

    assert asyncio.run(scenario()) == (0, False, [])


def test_forget_drops_only_the_old_names_rows(settings, db_path):
    domain_id = add_domain(settings, NAME)
    other_id = add_domain(settings, "other.brand.test")

    async def scenario() -> list:
        m = await _manager(db_path, LocalCA(settings.data_dir / "local-ca"))
        for ident in (domain_id, other_id):
            await m.provision(ident)
        await m.idle()
        await m.forget(domain_id, NAME)
        async with m.store.reading() as db:
            rows = []
            for d in await db.domains.all():
                certificate = await db.certificates.get(d.domain)
                rows.append((d.domain, d.ssl_status, certificate.domain if certificate else None))
        await m.store.close()
        return rows

    assert asyncio.run(scenario()) == [
        (NAME, "unavailable", None),
        ("other.brand.test", "active", "other.brand.test"),
    ]


def test_verify_answers_ssl_status_provisioning_once_issuance_started(settings, db_path):
    from admin.accounts.service import Accounts

    async def scenario() -> tuple[str, str]:
        issuer = GatedIssuer(LocalCA(settings.data_dir / "local-ca"))
        m = await _manager(db_path, issuer)
        service = _service_with(m.store, m)
        account = await Accounts(m.store).ensure("acme")
        created = await service.create(account, NAME)
        verified = await service.verify(account, created.id)
        issuer.gate.set()
        await m.idle()
        after = await service.get(account, created.id)
        await m.store.close()
        return verified.ssl_status, after.ssl_status

    assert asyncio.run(scenario()) == ("provisioning", "active")
