"""Slow clients: normal clicks' latency while hundreds of idle or half-sent connections are held.

    python bench/slow_clients.py [--slow 300] [--clicks 400] [--nofile 256]

Starts ``tracking-edge serve`` (one worker) on 127.0.0.1 with an open-file limit of
``--nofile``, and times ``--clicks`` normal clicks (each on a new connection, as a click from an
email is, four at a time): first alone, then while ``--slow`` connections are held open, half
of them idle and half sending a request head one byte a second (slowloris). Whatever the edge
closes is opened again a second later, as slowloris does (``--reconnect 0``: at once). Prints
p50 and p99 of the clicks and how many failed in both phases (and why), and how many slow
connections the edge closed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.tokens.codec import TokenCodec  # noqa: E402

SECRET = "bench-secret"
HOST = "track.bench"
CLICK_TIMEOUT = 5.0


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    #: Failed clicks by what went wrong.
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


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
                raise SystemExit(f"the edge exited with {proc.returncode}") from None
            time.sleep(0.05)
    raise SystemExit("the edge did not start")


async def click(port: int, path: str, phase: Phase) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CLICK_TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
            finally:
                writer.close()
    except TimeoutError:
        phase.fail("timeout")
        return
    except asyncio.IncompleteReadError:
        phase.fail("closed")
        return
    except OSError as exc:
        phase.fail(type(exc).__name__)
        return
    if head.startswith(b"HTTP/1.1 302"):
        phase.latencies.append(time.perf_counter() - started)
    else:
        phase.fail(head.split(b"\r\n", 1)[0].decode())


async def clicks(port: int, paths: list[str], phase: Phase, concurrency: int = 4) -> None:
    queue = list(reversed(paths))

    async def worker() -> None:
        while queue:
            await click(port, queue.pop(), phase)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


@dataclass
class Holders:
    held: int = 0
    closed_by_edge: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def hold(port: int, half_sent: bool, reconnect: float, state: Holders) -> None:
    """Keep one slow connection open, opening it again ``reconnect`` seconds after the edge
    closed it."""
    while not state.stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(max(reconnect, 0.1))
            continue
        state.held += 1
        try:
            if half_sent:
                writer.write(f"GET /robots.txt HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode())
            while not state.stop.is_set():
                if half_sent:
                    writer.write(b"a")
                try:
                    async with asyncio.timeout(1.0):
                        data = await reader.read(65536)
                except TimeoutError:
                    continue
                if not data:  # closed by the edge (evicted or timed out)
                    state.closed_by_edge += 1
                    break
        except OSError:
            state.closed_by_edge += 1
        finally:
            state.held -= 1
            writer.close()
        await asyncio.sleep(reconnect)


async def run(port: int, args: argparse.Namespace, paths: list[str]) -> list[Phase]:
    alone = Phase("alone")
    await clicks(port, paths, alone)
    state = Holders()
    holders = [
        asyncio.create_task(hold(port, n % 2 == 1, args.reconnect, state)) for n in range(args.slow)
    ]
    deadline = time.monotonic() + 10
    while state.held < args.slow * 0.9 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the half-sent ones have begun to trickle
    print(f"slow connections open before the clicks: {state.held} of {args.slow}")
    beside = Phase(f"beside {args.slow} slow")
    await clicks(port, paths, beside)
    state.stop.set()
    await asyncio.gather(*holders)
    print(f"slow connections the edge closed (evicted or timed out): {state.closed_by_edge}")
    return [alone, beside]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=300, help="slow connections to hold")
    parser.add_argument("--clicks", type=int, default=400, help="normal clicks per phase")
    parser.add_argument("--nofile", type=int, default=256, help="the edge's open-file limit")
    parser.add_argument(
        "--reconnect", type=float, default=1.0, help="seconds before a closed one is reopened"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.slow + 256)), hard))
    work = Path(tempfile.mkdtemp(prefix="edge-slow-"))
    codec = TokenCodec([SECRET])
    paths = [f"/e/{codec.sign_click(1, f'https://example.com/{i}')}" for i in range(args.clicks)]
    env = {
        **os.environ,
        "EDGE_DATA_DIR": str(work / "data"),
        "EDGE_SECRET_KEYS": SECRET,
        "EDGE_DEFAULT_DOMAIN": HOST,
        "EDGE_ADMIN_HOST": "admin.bench",
    }
    port = free_port()

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))

    edge = subprocess.Popen(
        [sys.executable, "-m", "admin.cli", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT, env=env, preexec_fn=limit_files,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(port, edge)
        print(f"edge: one worker, open-file limit {args.nofile}; {args.clicks} clicks per phase, "
              "each on a new connection, 4 at a time")  # fmt: skip
        phases = asyncio.run(run(port, args, paths))
    finally:
        edge.send_signal(signal.SIGTERM)
        edge.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'clicks':24} {'p50 ms':>8} {'p99 ms':>8} {'failed':>8}")
    for phase in phases:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(phase.failures.items()))
        print(f"{phase.name:24} {phase.percentile(0.5):8.2f} {phase.percentile(0.99):8.2f} "
              f"{phase.failed:8}{f'  ({why})' if why else ''}")  # fmt: skip
    return 0 if all(phase.failed == 0 for phase in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
