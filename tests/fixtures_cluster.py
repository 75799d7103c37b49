"""A cluster on loopback: ``tracking-edge serve`` nodes on one PostgreSQL behind a real nginx.

``make_cluster(3)`` starts three nodes, each a ``tracking-edge serve --https-port`` process in
a session of its own (its worker and its ingester with it) with its own data directory (so
its own spool) and ``EDGE_NODE_ID``, all on one fresh database (``pg_url``), and Debian's
nginx in front of them as a cluster's balancer is set up (README, "Running several nodes"):
plain HTTP balanced round-robin on Pebble's HTTP-01 port, and TLS passed through round-robin
by the ``stream`` module (``ssl_preread`` logs the SNI name), so every node terminates TLS
with the certificates it reads from the database. Every node resolves through the loopback
DNS server (``dns_server``: ``edge.test``, the CNAME target, is 127.0.0.1) and gets
certificates from Pebble, which reaches the nodes only through nginx.

::

    cluster = make_cluster(3)
    cluster.balancer("track.brand.test").get(path)   # through nginx; X-Upstream names the node
    cluster.nodes[2].kill()                           # kill -9 of every process of the node
    cluster.nodes[2].start(); cluster.nodes[2].wait_ready()

When nginx or its stream module is missing the test FAILS: ``scripts/test.sh`` (and so
``.ci/run``) installs ``nginx-light`` and ``libnginx-mod-stream`` with apt-get.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx
import pytest

from edge.config import Settings
from tests.conftest import cli_command, free_port

if TYPE_CHECKING:  # fixture modules are imported as pytest plugins, in their own order
    from tests.fixtures_acme import Pebble
    from tests.fixtures_dns import DNSServer

T = TypeVar("T")

ADMIN_HOST = "admin.test"
CNAME_TARGET = "edge.test"
#: A person's browser: clicks from it are ``human`` (httpx's own agent is a ``bot``'s).
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
#: The address nginx passes TLS connections through from (not a trusted proxy).
PASSTHROUGH_ADDRESS = "127.0.0.2"
#: Seconds a node, nginx or a condition gets before the test fails.
START_TIMEOUT = 60.0

NGINX_MISSING = (
    "nginx is not installed: the cluster test needs Debian's `nginx-light` and "
    "`libnginx-mod-stream` packages (scripts/test.sh installs them when run as root)"
)
STREAM_MISSING = (
    "nginx has no stream module (TLS passthrough): install Debian's `libnginx-mod-stream` "
    "(scripts/test.sh does when run as root)"
)

#: The balancer. HTTP: round-robin over the nodes; a node that refuses or resets a
#: connection is skipped for ``fail_timeout`` and the request is sent to the next one (a GET
#: is idempotent, so nginx retries it), which is what keeps clicks answered while one is down.
#: HTTPS: the TLS connection itself is passed round-robin to a node (``stream``), which
#: presents the certificate its SNI name asks for; ``ssl_preread`` only reads the name, for
#: the log. Passed-through connections come from an address of their own (``proxy_bind``),
#: outside ``EDGE_TRUSTED_PROXIES``: nginx writes no ``X-Forwarded-For`` into them, so one
#: sent by the client must not be believed.
NGINX_CONF = """\
{load_stream}
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    log_format balancer '$request_uri $status $upstream_addr $upstream_status';
    access_log {dir}/access.log balancer;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream edge_http {{
{http_servers}
    }}
    server {{
        listen 127.0.0.1:{http_port};
        location / {{
            proxy_pass http://edge_http;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
stream {{
    log_format passthrough '$ssl_preread_server_name $upstream_addr $status';
    access_log {dir}/tls.log passthrough;
    upstream edge_https {{
{https_servers}
    }}
    server {{
        listen 127.0.0.1:{https_port};
        ssl_preread on;
        proxy_pass edge_https;
        proxy_bind {passthrough_address};
        proxy_protocol on;
        proxy_connect_timeout 1s;
    }}
}}
"""


def nginx_binary() -> str:
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(NGINX_MISSING, pytrace=False)
    return path


def load_stream_module(binary: str) -> str:
    """The ``load_module`` line the stream module needs (Debian builds it as a module of its
    own), or nothing when it is built in; fails the test when it is neither."""
    built = subprocess.run([binary, "-V"], capture_output=True, text=True).stderr
    options = dict(
        option.partition("=")[::2] for option in built.split() if option.startswith("--")
    )
    if options.get("--with-stream") == "dynamic":
        module = Path(options.get("--modules-path", "/usr/lib/nginx/modules"))
        module /= "ngx_stream_module.so"
        if not module.exists():
            pytest.fail(STREAM_MISSING, pytrace=False)
        return f"load_module {module};"
    if "--with-stream" not in options:
        pytest.fail(STREAM_MISSING, pytrace=False)
    return ""


def await_condition(what: str, check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll ``check`` until it returns something true; return that, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


@dataclass
class Nginx:
    http_port: int
    https_port: int
    directory: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def access_log(self) -> list[list[str]]:
        """``[request_uri, status, upstream_addr, upstream_status]`` of each request so far."""
        path = self.directory / "access.log"
        return [line.split(" ", 3) for line in path.read_text().splitlines()]

    def tls_log(self) -> list[list[str]]:
        """``[sni_name, upstream_addr, status]`` of each TLS connection passed through so
        far (logged when it closes)."""
        path = self.directory / "tls.log"
        if not path.exists():
            return []
        return [line.split(" ", 2) for line in path.read_text().splitlines()]


def start_nginx(
    directory: Path, http_port: int, https_port: int, upstreams: list[tuple[int, int]]
) -> Nginx:
    """nginx with a prefix, configuration and logs of its own in ``directory``, balancing
    ``http_port`` and ``https_port`` over ``upstreams`` (each node's HTTP and HTTPS port)."""
    binary = nginx_binary()
    load_stream = load_stream_module(binary)
    directory.mkdir(parents=True, exist_ok=True)

    def servers(ports: list[int]) -> str:
        return "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in ports
        )

    conf = directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            load_stream=load_stream, dir=directory, http_port=http_port, https_port=https_port,
            passthrough_address=PASSTHROUGH_ADDRESS,
            http_servers=servers([h for h, _ in upstreams]),
            https_servers=servers([s for _, s in upstreams]),
        )
    )  # fmt: skip
    log = open(directory / "stderr.log", "wb")  # noqa: SIM115 - the child writes to it
    with log:
        proc = subprocess.Popen(
            [binary, "-p", f"{directory}/", "-e", "error.log", "-c", str(conf)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    nginx = Nginx(http_port, https_port, directory, proc)

    def listening() -> bool:
        if proc.poll() is not None:
            output = (directory / "stderr.log").read_text(errors="replace")
            output += (directory / "error.log").read_text(errors="replace")
            pytest.fail(f"nginx did not start:\n{output}", pytrace=False)
        try:  # a connection, not a request: nginx would mark nodes not yet up as failed
            socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
            return True
        except OSError:
            return False

    await_condition("nginx listens", listening, START_TIMEOUT)
    return nginx


def _session_of(pid: int) -> tuple[int, str] | None:
    """(session id, state) of a process, from ``/proc/<pid>/stat``; ``None`` once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[3]), fields[0]


def session_processes(session: int) -> list[int]:
    """The live (not zombie) processes of a session."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _session_of(int(entry))
            if info is not None and info[0] == session and info[1] != "Z":
                found.append(int(entry))
    return found


@dataclass
class Node:
    """One ``tracking-edge serve`` process, its workers and its ingester, in a session of its
    own (``kill`` reaches them all, as a machine's crash would)."""

    name: str
    data_dir: Path
    http_port: int
    https_port: int
    env: dict[str, str]
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def upstream(self) -> str:
        """How nginx names this node in ``X-Upstream``."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def https_upstream(self) -> str:
        """How nginx names this node's TLS port in its stream log."""
        return f"127.0.0.1:{self.https_port}"

    def start(self) -> None:
        command = [
            *cli_command(), "serve", "--port", str(self.http_port),
            "--https-port", str(self.https_port), "--workers", str(self.workers),
        ]  # fmt: skip
        with open(self.data_dir.parent / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def log(self) -> str:
        return (self.data_dir.parent / f"{self.name}.log").read_text(errors="replace")

    def client(self, host: str, **headers: str) -> httpx.Client:
        """A client of this node sending ``Host: host`` (and ``headers``), from a browser."""
        return httpx.Client(
            base_url=self.url, headers={"host": host, "user-agent": BROWSER, **headers},
            follow_redirects=False, timeout=10,
        )  # fmt: skip

    def health(self) -> httpx.Response:
        with self.client(ADMIN_HOST) as client:
            return client.get("/healthz")

    def wait_ready(self) -> None:
        """Until ``/healthz`` answers 200 (the domain table is loaded)."""

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log()[-3000:]}")
            try:
                return self.health().status_code == 200
            except httpx.TransportError:
                return False

        await_condition(f"{self.name} is ready", ready, START_TIMEOUT)

    def processes(self) -> list[int]:
        """The server, its workers and its ingester (a process group of its own, same
        session)."""
        assert self.proc is not None
        return session_processes(self.proc.pid)

    def ingester_pid(self) -> int:
        for pid in self.processes():
            if b"ingest" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                return pid
        raise AssertionError(f"{self.name} has no ingester process")

    def kill(self) -> None:
        """``kill -9`` of every process of the node; returns once none is left."""
        assert self.proc is not None

        def all_gone() -> bool:
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return not self.processes()

        await_condition(f"every process of {self.name} is killed", all_gone)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (workers flush, the ingester stores the spool); whatever is left after
        that is killed."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.kill()
            return
        self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        self.kill()


def stopped(pid: int) -> bool:
    """Whether a process is stopped (SIGSTOP has taken effect)."""
    info = _session_of(pid)
    return info is not None and info[1] == "T"


@dataclass
class Cluster:
    nodes: list[Node]
    nginx: Nginx
    database_url: str
    directory: Path

    @property
    def balancer_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx.http_port}"

    def balancer(self, host: str, **headers: str) -> httpx.Client:
        """A client of nginx sending ``Host: host`` (and ``headers``); never follows
        redirects."""
        return httpx.Client(
            base_url=self.balancer_url, headers={"host": host, **headers},
            follow_redirects=False, timeout=10,
        )  # fmt: skip

    def settings(self) -> Settings:
        """Settings for reading the cluster's database from the test (a node of its own)."""
        return Settings(
            data_dir=self.directory / "reader",
            database_url=self.database_url,
            node_id="test-reader",
            admin_host=ADMIN_HOST,
        )


def node_env(
    name: str,
    data_dir: Path,
    *,
    database_url: str,
    nginx_ports: tuple[int, int],
    pebble: Pebble,
    dns_server: DNSServer,
) -> dict[str, str]:
    """A node's environment: only what a cluster node is given, nothing of the test's own
    ``EDGE_*`` variables (no ``EDGE_SECRET_KEYS``: the database holds the cluster's key)."""
    http_port, https_port = nginx_ports
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return {
        **inherited,
        "EDGE_DATA_DIR": str(data_dir),
        "EDGE_DATABASE_URL": database_url,
        "EDGE_NODE_ID": name,
        "EDGE_ADMIN_HOST": ADMIN_HOST,
        "EDGE_CNAME_TARGET": CNAME_TARGET,
        "EDGE_DNS_NAMESERVERS": dns_server.nameserver,
        "EDGE_DNS_TIMEOUT": "2",
        # Links, the reachability check, the HTTPS proof and Pebble all go through nginx.
        "EDGE_PUBLIC_HTTP_PORT": str(http_port),
        "EDGE_VERIFY_PORT": str(http_port),
        "EDGE_PUBLIC_HTTPS_PORT": str(https_port),
        "EDGE_HTTPS_VERIFY_PORT": str(https_port),
        "EDGE_TRUSTED_PROXIES": f"127.0.0.1/32,{PASSTHROUGH_ADDRESS}/32",
        # TLS passes through nginx, which names each connection's client before it.
        "EDGE_HTTPS_PROXY_PROTOCOL": "1",
        "EDGE_ACME_DIRECTORY": pebble.directory_url,
        "EDGE_ACME_CA_BUNDLE": str(pebble.tls_ca_path),
        "EDGE_ACME_EMAIL": "ops@edge.test",
    }


@pytest.fixture
def make_cluster(
    tmp_path: Path, pg_url: str, pebble: Pebble, dns_server: DNSServer
) -> Iterator[Callable[..., Cluster]]:
    """``make_cluster(3)``: that many nodes (one worker process each), started together on
    one new database, behind nginx on Pebble's HTTP-01 port; all stopped after the test."""
    made: list[Cluster] = []

    def make(count: int) -> Cluster:
        dns_server.set_a(CNAME_TARGET, "127.0.0.1")
        dns_server.set_cname(f"*.{CNAME_TARGET}", CNAME_TARGET)  # the operator's wildcard
        nginx_ports = (pebble.http_port, free_port())
        nodes = []
        for index in range(count):
            name = f"node-{'abcdefgh'[index]}"
            data_dir = tmp_path / name / "data"
            data_dir.parent.mkdir()
            env = node_env(
                name, data_dir, database_url=pg_url, nginx_ports=nginx_ports, pebble=pebble,
                dns_server=dns_server,
            )  # fmt: skip
            nodes.append(Node(name, data_dir, free_port(), free_port(), env))
        nginx = start_nginx(
            tmp_path / "nginx", *nginx_ports, [(n.http_port, n.https_port) for n in nodes]
        )
        cluster = Cluster(nodes, nginx, pg_url, tmp_path)
        made.append(cluster)
        # Started together: they migrate one new database and agree on one signing key.
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
        return cluster

    yield make
    for cluster in made:
        cluster.nginx.stop()
        for node in cluster.nodes:
            node.stop()
@dataclass
class Answer:
    """What the load generator got for one click."""

    status: int
    location: str | None
    #: The node that answered (the last one nginx tried).
    upstream: str | None
    #: Whether nginx tried another node first.
    retried: bool
    #: The node nginx tried first (the one that answered, if not ``retried``).
    first: str | None
    #: ``time.monotonic()`` when the request was sent.
    sent: float


@dataclass
class ClickLoad:
    """Clicks through the balancer from ``concurrency`` threads until stopped, each on a link
    of a message of its own (``path_for(i)``), keeping every answer by message number.

    A request that gets no answer at all (a transport error) is kept in ``errors``.
    """

    base_url: str
    host: str
    path_for: Callable[[int], str]
    concurrency: int = 4
    #: Clicks per second at most, in all: a load, not a flood that would starve the nodes
    #: of the CPU they need to start (this machine may have two cores).
    rate: float = 400.0
    user_agent: str = BROWSER
    answers: dict[int, Answer] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ClickLoad:
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._run, name=f"clicks-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        headers = {"host": self.host, "user-agent": self.user_agent}
        interval = self.concurrency / self.rate
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            sent = time.monotonic()
            while not self._stop.wait(max(0.0, sent + interval - time.monotonic())):
                number = next(self._numbers)
                sent = time.monotonic()
                try:
                    response = client.get(self.path_for(number))
                except httpx.TransportError as exc:
                    with self._lock:
                        self.errors[number] = repr(exc)
                    continue
                tried = response.headers.get("x-upstream", "").split(", ")
                answer = Answer(
                    response.status_code,
                    response.headers.get("location"),
                    tried[-1] or None,
                    len(tried) > 1,
                    tried[0] or None,
                    sent,
                )
                with self._lock:
                    self.answers[number] = answer

    def snapshot(self) -> dict[int, Answer]:
        with self._lock:
            return dict(self.answers)

    def answered_by(self, upstream: str | None = None, *, sent_after: float = 0.0) -> list[int]:
        """Numbers of the clicks sent after ``sent_after`` (``time.monotonic``) that
        ``upstream`` (any node, if ``None``) answered."""
        return [
            n
            for n, a in self.snapshot().items()
            if upstream in (None, a.upstream) and a.sent > sent_after
        ]

    def await_answers(
        self, what: str, count: int, *, upstream: str | None = None, sent_after: float = 0.0
    ) -> list[int]:
        """Wait until ``count`` clicks matching ``answered_by(upstream, sent_after=...)`` were
        answered; return their numbers."""

        def enough() -> list[int] | None:
            found = self.answered_by(upstream, sent_after=sent_after)
            return found if len(found) >= count else None

        return await_condition(what, enough, 30)
