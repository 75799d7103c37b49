"""The in-memory domain table follows database changes within a second, in every worker."""

from __future__ import annotations

import time

import httpx
import pytest

from edge.db.repositories import Repositories
from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, free_port, start_server_process
from tests.stores import in_store, put_domain

CODEC = TokenCodec([SECRET])
TARGET = "https://example.com/"


def statuses(port: int, host: str, token: str, n: int) -> set[int]:
    """Status codes of ``n`` requests, each on a new connection (so any worker may answer)."""
    seen = set()
    for _ in range(n):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"host": host}) as c:
            seen.add(c.get(f"/e/{token}").status_code)
    return seen


def wait_until_served(port: int, host: str, token: str, expected: int, limit: float) -> float:
    """Seconds until every worker answers ``expected`` (checked with 8 fresh connections).

    The time is taken when a round *starts* that then sees only ``expected``: with two
    workers, 8 fresh connections reach both (uvicorn's workers share one listening socket).
    """
    started = time.monotonic()
    while time.monotonic() - started < limit + 2:
        round_start = time.monotonic()
        if statuses(port, host, token, 8) == {expected}:
            return round_start - started
    raise AssertionError(f"{host} not answering {expected} after {limit + 2} s")


def test_domain_changes_reach_every_worker_within_a_second(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    # The default poll interval (0.25 s), not the tests' faster one: this is the claim.
    proc = start_server_process(data, port, workers=2, poll_interval=None)
    db = data / "edge.sqlite3"
    now = int(time.time())
    try:
        account = in_store(db, lambda tx: tx.accounts.ensure("brand", now=now))
        token = CODEC.sign_click(account.id, TARGET)
        assert statuses(port, "go.brand.com", token, 10) == {404}
        domain_id = in_store(db, lambda tx: put_domain(tx, account.id, "go.brand.com"))
        assert wait_until_served(port, "go.brand.com", token, 302, 1.0) < 1.0
        in_store(db, lambda tx: tx.domains.set_compliance(domain_id, blocked=True, now=now))
        assert wait_until_served(port, "go.brand.com", token, 404, 1.0) < 1.0
        in_store(db, lambda tx: tx.domains.set_compliance(domain_id, blocked=False, now=now))
        assert wait_until_served(port, "go.brand.com", token, 302, 1.0) < 1.0
        in_store(db, lambda tx: tx.domains.delete(domain_id))
        assert wait_until_served(port, "go.brand.com", token, 404, 1.0) < 1.0
    finally:
        proc.terminate()
        proc.wait(20)


def test_configured_default_domain_cannot_be_taken_over_by_a_database_row(settings, make_server):
    live = make_server(settings)

    async def squat(tx: Repositories) -> None:
        squatter = await tx.accounts.ensure("squatter", now=int(time.time()))
        await put_domain(tx, squatter.id, "track.test", compliance_status="blocked")

    in_store(settings, squat)
    live.call(live.app.runtime.domains.refresh)
    with live.client("track.test") as client:
        assert client.get(f"/e/{CODEC.sign_click(1, TARGET)}").status_code == 302


@pytest.mark.parametrize("claim_first", [True, False], ids=["claim-before", "claim-after"])
def test_an_unverified_claim_never_shadows_the_verified_owner(settings, make_server, claim_first):
    """Several accounts may claim a name; the table serves it for the verified one only,
    whichever row came first."""
    live = make_server(settings)

    async def claims(tx: Repositories) -> tuple[int, int]:
        owner = await tx.accounts.ensure("owner", now=int(time.time()))
        squatter = await tx.accounts.ensure("squatter", now=int(time.time()))
        rows = [(owner.id, "valid", "valid"), (squatter.id, "unverified", "pending")]
        for account_id, cname, compliance in reversed(rows) if claim_first else rows:
            await put_domain(
                tx, account_id, "go.brand.test", cname_status=cname, compliance_status=compliance
            )
        return owner.id, squatter.id

    owner, squatter = in_store(settings, claims)
    live.call(lambda: live.app.runtime.domains.refresh(force=True))
    entry = live.app.runtime.domains.served("go.brand.test")
    assert entry is not None and entry.account_id == owner
    with live.client("go.brand.test") as client:
        assert client.get(f"/e/{CODEC.sign_click(owner, TARGET)}").status_code == 302
        assert client.get(f"/e/{CODEC.sign_click(squatter, TARGET)}").status_code == 404
