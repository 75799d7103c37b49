"""Console benchmark: the engagement dashboard over 30 days of millions of events.

    python bench/console.py [--events 5000000] [--runs 20]

Generates ``--events`` events over the last 30 days with bench/stats.py's generator (ten
tracking domains, campaigns, machine opens, scanner clicks) straight into a fresh SQLite
database, rolls them up with the real roll-up pass, then starts the whole app (uvicorn on
127.0.0.1), signs in to the console and times, ``--runs`` times each, the three requests the
dashboard makes for "Last 30 days": the page (totals, top links), ``chart.json`` (the series)
and the tail (the newest events). Times are taken at the client on loopback, so they include
the server time and bound it from above. Target: **p50 <= 300 ms** for each.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from admin.server import create_app  # noqa: E402
from edge.config import Settings  # noqa: E402


def _stats_bench():  # bench/stats.py, loaded by path (bench/ is not a package)
    spec = importlib.util.spec_from_file_location("bench_stats", _HERE / "stats.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    stats = _stats_bench()
    day_ms = 86_400_000
    now_ms = int(time.time() * 1000)
    stats.DAYS = 30
    stats.START = now_ms - now_ms % day_ms - 29 * day_ms
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), secret_keys=("bench",), admin_host="admin.test",
            default_domain="track.test",
        )  # fmt: skip
        print(f"loading {args.events:,} events over 30 days")
        print(f"  {stats.load(settings.database_path, args.events):.1f} s")
        print(f"  roll-up {asyncio.run(stats.roll_up(settings.database_path)):.1f} s")
        app = create_app(settings)
        port = _port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),))
        thread.start()
        while not server.started:
            time.sleep(0.05)
        services = app.admin_app.state.services  # type: ignore[union-attr]

        async def key() -> str:
            account = await services.accounts.get(1)  # the generated events' account
            if account is None:
                account = await services.accounts.ensure("acme")
            assert account.id == 1
            return (await services.accounts.create_key(account)).secret

        secret = asyncio.run_coroutine_threadsafe(key(), loop).result()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"host": "admin.test"}, trust_env=False
        ) as client:
            token = re.search(r'name="csrf_token" value="(\w+)"', client.get("/").text)
            assert token
            signed = client.post("/signin", data={"api_key": secret, "csrf_token": token[1]})
            assert signed.status_code == 303
            for path in ("/dashboard?range=30d", "/dashboard/chart.json?range=30d",
                         "/dashboard/tail?range=30d", "/dashboard?range=30d&domain="
                         + stats.DOMAINS[3]):  # fmt: skip
                timings = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    answer = client.get(path)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text[:200]
                timings.sort()
                print(
                    f"{path}: p50 {statistics.median(timings):.1f} ms, "
                    f"p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms, max {timings[-1]:.1f} ms"
                )
            page = client.get("/dashboard?range=30d").text
            clicks = re.search(r'<dd id="t-clicks">(\d+)</dd>', page)
            print(f"  30-day clicks (people) shown: {clicks[1] if clicks else '?'}")
        server.should_exit = True
        thread.join(30)


if __name__ == "__main__":
    main()
