"""Edge benchmark: the tracking edge against two bare redirects, same load, one run.

    python bench/edge.py [--duration 60] [--connections 50]

Starts three uvicorn servers on 127.0.0.1 (uvloop + httptools, one worker each): the edge
(``tracking-edge serve``: host check, token verification, durable event recording) and the
two baselines of ``bench/bare_redirect.py``, a bare Starlette redirect (``bare``) and a raw
ASGI callable answering a constant 302 (``raw``: uvicorn's own floor). Drives each with the
same load (wrk when installed, else a Python load generator) over 1,000 distinct click URLs,
and prints requests/s, p50 and p99 latency, the ratios edge/bare and edge/raw, the events in
the database against the redirects served (they must be equal) and the edge's resident
memory over the run (it must stay flat).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the ``edge`` package; keep its folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import httpx  # noqa: E402

from edge.db.sqlite.store import SQLiteStore  # noqa: E402
from edge.db.store import Store  # noqa: E402
from edge.tokens.codec import TokenCodec  # noqa: E402

SECRET = "bench-secret"
HOST = "track.bench"


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    #: CPU seconds the server process used (all its threads) during the load.
    cpu_seconds: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server on {port} exited with {proc.returncode}") from None
            time.sleep(0.05)
    raise SystemExit(f"server on {port} did not start")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all threads (proc(5): fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- load generators ----------------------------------------------------------------------

WRK_SCRIPT = """
paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
counter = 0
request = function()
  counter = counter %% #paths + 1
  return wrk.format("GET", paths[counter])
end
"""


def run_wrk(name: str, port: int, paths_file: Path, seconds: int, conns: int) -> Result:
    script = paths_file.with_suffix(".lua")
    script.write_text(WRK_SCRIPT % paths_file)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--latency", "-H", f"Host: {HOST}",
         "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        name, total, seconds, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"),
        int(errors.group(1)) if errors else 0,
    )  # fmt: skip


def _wrk_ms(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_python_load(name: str, port: int, paths: list[str], seconds: int, conns: int) -> Result:
    """Keep-alive HTTP/1.1 over raw asyncio streams: as little client overhead as Python allows."""

    async def main() -> Result:
        latencies: list[float] = []
        errors = 0
        stop_at = time.monotonic() + seconds

        async def connection(offset: int) -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            i = offset
            while time.monotonic() < stop_at:
                path = paths[i % len(paths)]
                i += conns
                t0 = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if not head.startswith(b"HTTP/1.1 302"):
                    errors += 1
            writer.close()

        started = time.monotonic()
        await asyncio.gather(*(connection(n) for n in range(conns)))
        elapsed = time.monotonic() - started
        latencies.sort()
        return Result(
            name, len(latencies), elapsed,
            latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000,
            errors,
        )  # fmt: skip

    return asyncio.run(main())


# -- the run ------------------------------------------------------------------------------


def combine(name: str, results: list[Result]) -> Result:
    """One result from interleaved rounds: total requests over total time, median latencies."""
    p50s = sorted(r.p50_ms for r in results)
    p99s = sorted(r.p99_ms for r in results)
    return Result(
        name,
        sum(r.requests for r in results),
        sum(r.seconds for r in results),
        p50s[len(p50s) // 2],
        p99s[len(p99s) // 2],
        sum(r.errors for r in results),
        sum(r.cpu_seconds for r in results),
    )


def interleaved(
    targets: dict[str, tuple[int, int]], rounds: int, seconds: int,
    paths: list[str], paths_file: Path, conns: int, use_wrk: bool,
) -> dict[str, list[Result]]:  # fmt: skip
    """``rounds`` rounds of ``seconds`` of load on each target (name: (port, pid whose CPU
    is counted)), each round starting with another one: a noisy machine drifts, and drift
    then weighs on all targets alike."""
    names = list(targets)
    results: dict[str, list[Result]] = {name: [] for name in names}
    for n in range(rounds):
        k = n % len(names)
        for name in names[k:] + names[:k]:
            port, pid = targets[name]
            results[name].append(load(name, port, paths, paths_file, seconds, conns, use_wrk, pid))
    return results


def load(name, port, paths, paths_file, seconds, conns, use_wrk, pid: int) -> Result:
    before = cpu_seconds(pid)
    if use_wrk:
        result = run_wrk(name, port, paths_file, seconds, conns)
    else:
        result = run_python_load(name, port, paths, seconds, conns)
    result.cpu_seconds = cpu_seconds(pid) - before
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=60, help="seconds of load per server, over all rounds"
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per server")
    parser.add_argument("--python-load", action="store_true", help="do not use wrk")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    root = _HERE.parent
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    codec = TokenCodec([SECRET])
    urls = [f"https://example.com/article/{i}?utm_source=news" for i in range(1000)]
    paths = [
        f"/e/{codec.sign_click(1, url, message=f'm{i % 50}', link=f'l{i % 7}')}"
        for i, url in enumerate(urls)
    ]
    paths_file = work / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(work / "data"),
        "EDGE_SECRET_KEYS": SECRET,
        "EDGE_DEFAULT_DOMAIN": HOST,
        "EDGE_ADMIN_HOST": "admin.bench",
    }
    uvicorn_flags = ["--loop", "uvloop", "--http", "httptools", "--no-access-log",
                     "--log-level", "warning"]  # fmt: skip
    bare_port, raw_port, edge_port = free_port(), free_port(), free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_redirect:app", "--app-dir", str(_HERE),
         "--port", str(bare_port), *uvicorn_flags],
        cwd=root, env=env,
    )  # fmt: skip
    raw = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_redirect:raw_app", "--app-dir", str(_HERE),
         "--port", str(raw_port), "--lifespan", "off", *uvicorn_flags],
        cwd=root, env=env,
    )  # fmt: skip
    edge = subprocess.Popen(
        [sys.executable, "-m", "admin.cli", "serve", "--port", str(edge_port), "--workers", "1"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(bare_port, bare)
        wait_ready(raw_port, raw)
        wait_ready(edge_port, edge)
        print(f"load: {'wrk' if use_wrk else 'python'}, {args.connections} connections, "
              f"{args.duration} s per server in {args.rounds} interleaved rounds, "
              "1,000 distinct click URLs")  # fmt: skip
        pids = {"bare": bare.pid, "raw": raw.pid, "edge": edge.pid}
        ports = {"bare": bare_port, "raw": raw_port, "edge": edge_port}
        for name in pids:  # warm-up
            port, pid = ports[name], pids[name]
            load("warm-up", port, paths, paths_file, 2, args.connections, use_wrk, pid)
        # The events of the warm-up stored first, so that the ingester's figures below
        # cover the measured rounds only.
        ingester = ingester_pid(edge.pid)
        db_path = work / "data" / "edge.sqlite3"
        wait_stored(db_path, _health(edge_port)["redirects_served"], 120)
        ingester_cpu = cpu_seconds(ingester)
        base_rss = rss_kib(edge.pid)
        samples: list[int] = []
        sampling = threading.Event()

        ingester_samples: list[int] = []

        def sample() -> None:
            while not sampling.wait(1.0):
                samples.append(rss_kib(edge.pid))
                ingester_samples.append(rss_kib(ingester))

        sampler = threading.Thread(target=sample)
        sampler.start()
        # Interleaved rounds, each starting with another server: a noisy machine drifts,
        # and drift then weighs on all servers alike.
        names = list(pids)
        targets = {name: (ports[name], pids[name]) for name in names}
        per_round = max(2, args.duration // args.rounds)
        rounds = interleaved(targets, args.rounds, per_round, paths, paths_file,
                             args.connections, use_wrk)  # fmt: skip
        sampling.set()
        sampler.join()
        baseline, floor, measured = (combine(name, rounds[name]) for name in names)

        # Every served click is in the spool; the ingester, niced, got what CPU the load
        # left it and catches up now.
        load_ended = time.monotonic()
        health = _health(edge_port)
        stored = wait_stored(db_path, health["redirects_served"], 900)
        catch_up = time.monotonic() - load_ended
        ingester_cpu = cpu_seconds(ingester) - ingester_cpu
        ingester_peak = max([*ingester_samples, rss_kib(ingester)])
        edge.send_signal(signal.SIGTERM)
        edge.wait(60)
        stored = asyncio.run(count_stored(db_path))
    finally:
        for proc in (bare, raw, edge):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)

    print()
    print(f"{'server':8} {'requests/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'server CPU us/request':>22}")  # fmt: skip
    for r in (baseline, floor, measured):
        print(f"{r.name:8} {r.rps:12,.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7} "
              f"{r.cpu_us_per_request:22.1f}")  # fmt: skip
    print()
    for base in (baseline, floor):
        ratios = [e.rps / b.rps for b, e in zip(rounds[base.name], rounds["edge"], strict=True)]
        print(f"ratio edge/{base.name} (requests/s): {measured.rps / base.rps:.2f}   "
              f"(target >= 1.0); per round: {' '.join(f'{r:.2f}' for r in ratios)}")  # fmt: skip
    for base in (baseline, floor):
        print(f"server CPU per request, edge/{base.name}: "
              f"{measured.cpu_us_per_request / base.cpu_us_per_request:.2f} "
              "(steadier than requests/s on a busy machine; below 1.0 is better)")  # fmt: skip
    measured_events = measured.requests
    print(
        f"ingester (separate process, nice {os.environ.get('EDGE_INGEST_NICE', '19')}, "
        f"SCHED_IDLE {os.environ.get('EDGE_INGEST_IDLE', 'true')}): "
        f"{ingester_cpu / measured_events * 1e6:.1f} us CPU per event; stored the last "
        f"event {catch_up:.1f} s after the load ended; peak RSS {ingester_peak / 1024:.1f} MiB"
    )
    total = measured.cpu_us_per_request + ingester_cpu / measured_events * 1e6
    print(
        f"all CPU per click, edge + ingester: {total:.1f} us "
        f"({total / baseline.cpu_us_per_request:.2f}x bare, which records nothing)"
    )
    print(f"redirects served by the edge: {health['redirects_served']:,}")
    print(f"click events in the database: {stored:,}   "
          f"({'equal' if stored == health['redirects_served'] else 'NOT EQUAL'})")  # fmt: skip
    # Samples span the whole run (both servers' rounds): the edge idles in the bare rounds.
    tenth = max(1, len(samples) // 6)
    early, late = max(samples[:tenth]), max(samples[-tenth:])
    print(f"edge RSS: {base_rss / 1024:.1f} MiB before load, peak {max(samples) / 1024:.1f} MiB; "
          f"first {tenth} s peak {early / 1024:.1f} MiB, last {tenth} s peak {late / 1024:.1f} MiB "
          f"({(late - early) / early * 100:+.1f}%)")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    return 0 if stored == health["redirects_served"] else 1


def ingester_pid(server_pid: int) -> int:
    """The ingester ``tracking-edge serve`` started: the server's child process."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{server_pid}/task/{server_pid}/children") as children:
            pids = [int(p) for p in children.read().split()]
        if pids:
            return pids[0]
        time.sleep(0.05)
    raise SystemExit("no ingester process found")


async def stored_clicks(store: Store) -> int:
    """Click events in the database. No repository counts events (the API pages them), so
    this is the one raw statement, on the read connection."""
    async with store.reading() as db:
        row = await db.conn.fetchone("SELECT count(*) FROM events WHERE type = 'click'")
    assert row is not None
    return int(row[0])


async def count_stored(db_path: Path) -> int:
    async with SQLiteStore(db_path) as store:
        return await stored_clicks(store)


def wait_stored(open_store: Path | Callable[[], Store], served: int, timeout: float) -> int:
    """Wait until ``served`` click events are in the database (the SQLite file at a path,
    or the store ``open_store()`` makes); returns how many are."""
    make = (lambda: SQLiteStore(open_store)) if isinstance(open_store, Path) else open_store

    async def wait() -> int:
        deadline = time.monotonic() + timeout
        async with make() as store:
            while True:
                stored = await stored_clicks(store)
                if stored >= served or time.monotonic() > deadline:
                    return stored
                await asyncio.sleep(0.1)

    return asyncio.run(wait())


def _health(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"host": "admin.bench"}).json()


if __name__ == "__main__":
    sys.exit(main())
