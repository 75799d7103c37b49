"""The in-memory domain table follows database changes within a second, in every worker."""

from __future__ import annotations

import sqlite3
import time

import httpx

from edge.tokens.codec import TokenCodec
from tests.conftest import SECRET, free_port, start_server_process

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
    try:
        token = CODEC.sign_click(5, TARGET)
        assert statuses(port, "go.brand.com", token, 10) == {404}
        db = sqlite3.connect(data / "edge.sqlite3", isolation_level=None)
        db.execute("INSERT INTO accounts (id, name) VALUES (5, 'brand')")
        db.execute(
            "INSERT INTO tracking_domains (account_id, domain, cname_status, compliance_status) "
            "VALUES (5, 'go.brand.com', 'valid', 'valid')"
        )
        assert wait_until_served(port, "go.brand.com", token, 302, 1.0) < 1.0
        db.execute("UPDATE tracking_domains SET compliance_status = 'blocked'")
        assert wait_until_served(port, "go.brand.com", token, 404, 1.0) < 1.0
        db.execute("UPDATE tracking_domains SET compliance_status = 'valid'")
        assert wait_until_served(port, "go.brand.com", token, 302, 1.0) < 1.0
        db.execute("DELETE FROM tracking_domains")
        assert wait_until_served(port, "go.brand.com", token, 404, 1.0) < 1.0
        db.close()
    finally:
        proc.terminate()
        proc.wait(20)


def test_configured_default_domain_cannot_be_taken_over_by_a_database_row(settings, make_server):
    live = make_server(settings)
    with sqlite3.connect(settings.database_path) as db:
        db.execute("INSERT INTO accounts (id, name) VALUES (9, 'squatter')")
        db.execute(
            "INSERT INTO tracking_domains (account_id, domain, cname_status, compliance_status) "
            "VALUES (9, 'track.test', 'valid', 'blocked')"
        )
    live.call(live.app.runtime.domains.refresh)
    with live.client("track.test") as client:
        assert client.get(f"/e/{CODEC.sign_click(1, TARGET)}").status_code == 302
