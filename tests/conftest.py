"""Shared fixtures: settings in a temporary data directory and a real uvicorn server.

``live_server`` runs the whole app (edge + admin) in uvicorn on 127.0.0.1 in a background
thread, so tests talk to it over the wire with httpx. Area-specific fixtures live beside their
tests (``tests/<area>/conftest.py``) or in modules named ``tests/fixtures_<area>.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn

from admin.server import create_app
from edge.config import Settings
from edge.serving.server import EdgeServer
from edge.serving.uvicorn_internals import http_protocol
from tests import postgres

SECRET = "test-secret-key"

# Area fixtures (a DNS server, Pebble, webhook receivers...) live in tests/fixtures_<area>.py
# and are loaded here, so every test module can use them by name.
pytest_plugins = sorted(
    f"tests.{path.stem}" for path in Path(__file__).parent.glob("fixtures_*.py")
)


#: Ports handed out so far: never twice in a run.
_handed_out: set[int] = set()
_ports = random.Random()


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on, for a server to bind later.

    Taken below the kernel's ephemeral range (``ip_local_port_range``, 32768 and up by
    default), which bind(0) and every outgoing connection draw from: a port picked there may
    be the source port of some client's connection by the time its server binds it.
    """
    if len(_handed_out) > 10000:  # most of the range: start over rather than search long
        _handed_out.clear()
    while True:
        port = _ports.randrange(20000, 32768)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the run: ``EDGE_TEST_DATABASE_URL`` (scripts/test.sh starts
    one), else a throwaway cluster started here; never a skip."""
    url = os.environ.get(postgres.URL_ENV)
    if url:
        yield url
        return
    with postgres.throwaway_cluster(free_port()) as started:
        yield started


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """The URL of a new, empty database for this test."""
    with postgres.fresh_database(pg_server) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh data directory; the default tracking domain is ``track.test``."""
    return Settings(
        data_dir=tmp_path / "data",
        secret_keys=(SECRET,),
        default_domain="track.test",
        admin_host="admin.test",
        domain_poll_interval=0.05,
    )


@dataclass
class LiveServer:
    """A running server: ``url`` is its base, ``app`` the ASGI app (with its runtime)."""

    app: EdgeServer
    port: int
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, host: str, **kwargs) -> httpx.Client:
        """An httpx client that sends ``Host: host`` to this server and never follows redirects."""
        return httpx.Client(
            base_url=self.url, headers={"host": host}, follow_redirects=False, **kwargs
        )

    def call(self, coro_factory: Callable, timeout: float = 30):
        """Run a coroutine on the server loop (store queries, drain); return its result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def drain(self) -> None:
        """Wait until every event recorded so far is in the store."""
        self.call(self.app.runtime.drain)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def server_config(app: EdgeServer, port: int, **config) -> uvicorn.Config:
    """uvicorn's configuration as production runs it (httptools, the tracking fast path)."""
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        log_level="warning",
        loop="asyncio",
        http=http_protocol(),
        proxy_headers=False,
        access_log=False,
        **config,
    )


def serve_in_thread(
    server: uvicorn.Server, name: str
) -> tuple[threading.Thread, asyncio.AbstractEventLoop]:
    """Run ``server`` on its own event loop in a daemon thread; return once it listens."""
    holder: dict = {}

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=run, daemon=True, name=name)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server failed to start")
        thread.join(0.01)
    return thread, holder["loop"]


def start_server(app: EdgeServer, port: int | None = None, **config) -> LiveServer:
    port = port or free_port()
    server = uvicorn.Server(server_config(app, port, **config))
    thread, loop = serve_in_thread(server, f"uvicorn-{port}")
    return LiveServer(app, port, server, thread, loop)


@pytest.fixture
def make_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``make_server(settings)`` starts a server; all are stopped after the test."""
    started: list[LiveServer] = []

    def make(settings: Settings, **config) -> LiveServer:
        live = start_server(create_app(settings), **config)
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@pytest.fixture
def live_server(settings: Settings, make_server) -> LiveServer:
    return make_server(settings)


@pytest.fixture
def other_settings(settings: Settings) -> Callable[..., Settings]:
    def make(**changes) -> Settings:
        return replace(settings, **changes)

    return make


def cli_command(prelude: str = "") -> list[str]:
    """The command line that runs ``tracking-edge``, after ``prelude`` (Python) if given."""
    if not prelude:
        return [sys.executable, "-m", "admin.cli"]
    run = "import sys\nfrom admin.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    return [sys.executable, "-c", f"{prelude}\n{run}"]


def start_server_process(
    data_dir: Path,
    port: int,
    workers: int = 1,
    poll_interval: float | None = 0.05,
    *,
    prelude: str = "",
    https_port: int | None = None,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.Popen:
    """``tracking-edge serve`` in a child process (for signals and ``--workers``); ``prelude``
    is Python code run in that process first (to change what it imports, say); ``env``
    changes its environment (``None`` removes a variable).

    Its output goes to ``<data_dir>/../server-<port>.log``; returns once it answers.
    """
    environment: dict[str, str | None] = {
        **os.environ,
        "EDGE_DATA_DIR": str(data_dir),
        "EDGE_SECRET_KEYS": SECRET,
        "EDGE_DEFAULT_DOMAIN": "track.test",
        "EDGE_ADMIN_HOST": "admin.test",
        **(env or {}),
    }
    if poll_interval is not None:
        environment["EDGE_DOMAIN_POLL_INTERVAL"] = str(poll_interval)
    command = [*cli_command(prelude), "serve", "--port", str(port), "--workers", str(workers)]
    if https_port is not None:
        command += ["--https-port", str(https_port)]
    log_path = Path(data_dir).parent / f"server-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            command, env={k: v for k, v in environment.items() if v is not None},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/robots.txt", headers={"host": "track.test"})
            return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(log_path.read_text()) from None
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"server did not start: {log_path.read_text()}")
