"""Background jobs: run every interval, survive failures, once per cluster when asked."""

from __future__ import annotations

import asyncio
import time

from edge.db.sqlite.store import SQLiteStore
from edge.periodic import Periodic, once_per_cluster


def test_a_job_runs_again_after_it_failed():
    runs: list[int] = []

    async def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run breaks")

    async def go() -> None:
        async with Periodic("flaky", job, interval=0.01):
            while len(runs) < 3:
                await asyncio.sleep(0.005)

    asyncio.run(asyncio.wait_for(go(), 5))
    assert runs[:3] == [0, 1, 2]


def test_a_cluster_job_skips_its_turn_while_another_process_holds_the_lease(tmp_path):
    runs: list[float] = []

    async def job() -> None:
        runs.append(time.time())

    async def go() -> tuple[int, int]:
        async with SQLiteStore(tmp_path / "edge.sqlite3") as store:
            async with store.transaction() as tx:  # another process's lease, 0.3 s long
                now = time.time()
                assert await tx.leases.take("prune", "other", now=now, until=now + 0.3)
            run = once_per_cluster(store, "prune", job, interval=0.05)
            await run()
            skipped = len(runs)
            await asyncio.sleep(0.35)
            await run()
            return skipped, len(runs)

    assert asyncio.run(go()) == (0, 1)
