"""The PROXY protocol on the HTTPS listener: the client's address from a TLS-passing balancer.

A balancer that passes TLS through untouched (nginx ``stream``, HAProxy ``mode tcp``, a
cloud network load balancer) cannot add ``X-Forwarded-For``: it never sees the requests.
Without more, every HTTPS click would seem to come from the balancer, and the classification
rules that look at addresses (scanner networks, a burst from one address) would judge the
balancer. With ``EDGE_HTTPS_PROXY_PROTOCOL=1`` the balancer sends a PROXY protocol header
(HAProxy's specification, versions 1 and 2: nginx ``proxy_protocol on``, HAProxy
``send-proxy``/``send-proxy-v2``) before the TLS handshake, and the edge takes the client's
address from it.

:class:`ProxiedListener` accepts the connections itself, reads exactly the header (never a
byte of the TLS handshake behind it), then hands the socket to asyncio's TLS server side.
The specification forbids guessing: a connection without a valid header, or from a peer
outside ``EDGE_TRUSTED_PROXIES``, is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("edge.proxy_protocol")

#: Version 2's signature (specification §2.2).
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: Longest version 1 header, CRLF included (§2.1).
V1_MAX = 107


class ProxyHeaderError(Exception):
    """The bytes at the start of a connection are not a PROXY protocol header."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """The connection's origin as the balancer saw it; ``source`` is ``None`` when the
    header carries none (version 1 ``UNKNOWN``, version 2 ``LOCAL``: the balancer's own
    connection, a health check), and the peer is then the client."""

    source: tuple[str, int] | None


async def read_header(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> ProxyHeader:
    """Read one header from the non-blocking ``conn``, consuming exactly its bytes."""
    # Every header is at least 15 bytes ("PROXY UNKNOWN\r\n"), and 12 tell the versions
    # apart: reading 12 never takes a byte of what follows.
    start = await _exactly(loop, conn, 12)
    if start == V2_SIGNATURE:
        head = await _exactly(loop, conn, 4)
        length = struct.unpack("!H", head[2:])[0]
        if length > 512:  # addresses and a few TLVs; nothing a balancer sends is larger
            raise ProxyHeaderError(f"version 2 header of {length} bytes")
        return parse_v2(head + await _exactly(loop, conn, length))
    if not start.startswith(b"PROXY "):
        raise ProxyHeaderError("no PROXY protocol header")
    line = bytearray(start)
    while not line.endswith(b"\r\n"):
        if len(line) >= V1_MAX:
            raise ProxyHeaderError("version 1 header longer than 107 bytes")
        line += await _exactly(loop, conn, 1)
    return parse_v1(bytes(line))


def parse_v1(line: bytes) -> ProxyHeader:
    """``PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\\r\\n``, or
    ``PROXY UNKNOWN ...\\r\\n``."""
    parts = line[:-2].decode("ascii", "replace").split(" ")
    if parts[:2] == ["PROXY", "UNKNOWN"]:
        return ProxyHeader(None)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError(f"malformed version 1 header {line[:V1_MAX]!r}")
    family = ipaddress.IPv4Address if parts[1] == "TCP4" else ipaddress.IPv6Address
    try:
        source = family(parts[2])
        family(parts[3])
        port = int(parts[4])
    except ValueError as exc:
        raise ProxyHeaderError(f"malformed version 1 header {line!r}") from exc
    if not 0 <= port < 65536 or not parts[4].isdigit():
        raise ProxyHeaderError(f"malformed version 1 header {line!r}")
    return ProxyHeader((str(source), port))


def parse_v2(rest: bytes) -> ProxyHeader:
    """The part after the signature: version and command, family, length, addresses."""
    version_command, family = rest[0], rest[1]
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"version 2 header of version {version_command >> 4}")
    command = version_command & 0x0F
    if command == 0:  # LOCAL
        return ProxyHeader(None)
    if command != 1:
        raise ProxyHeaderError(f"version 2 header with command {command}")
    body = rest[4:]
    if family == 0x11 and len(body) >= 12:  # TCP over IPv4: addresses, then ports
        (port,) = struct.unpack("!H", body[8:10])
        return ProxyHeader((str(ipaddress.IPv4Address(body[:4])), port))
    if family == 0x21 and len(body) >= 36:  # TCP over IPv6
        (port,) = struct.unpack("!H", body[32:34])
        return ProxyHeader((str(ipaddress.IPv6Address(body[:16])), port))
    if family == 0x00:  # UNSPEC: the receiver must use the real addresses
        return ProxyHeader(None)
    raise ProxyHeaderError(f"version 2 header with family {family:#x} and {len(body)} bytes")


async def _exactly(loop: asyncio.AbstractEventLoop, conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await loop.sock_recv(conn, n - len(data))
        if not chunk:
            raise ProxyHeaderError("connection closed before the end of its PROXY header")
        data += chunk
    return data


#: Makes the HTTP protocol of one connection, given its client's ``(address, port)``.
ProtocolFactory = Callable[[tuple[str, int]], asyncio.Protocol]


class ProxiedListener:
    """Accepts on ``sock``, reads each connection's PROXY header, then serves TLS with
    ``tls`` and a protocol from ``factory``. Closed like an ``asyncio.Server``."""

    #: Seconds a connection gets to send its header (then the TLS handshake has its own).
    header_timeout = 5.0
    #: Seconds for the TLS handshake and shutdown, as on the listener without the header.
    handshake_timeout = 10.0
    shutdown_timeout = 5.0
    #: Distinct (address, reason) refusals logged; later ones are not.
    max_said = 1000

    def __init__(
        self,
        sock: socket.socket,
        factory: ProtocolFactory,
        tls: ssl.SSLContext,
        trusted: Callable[[str], bool],
    ) -> None:
        self.sock = sock
        self.factory = factory
        self.tls = tls
        self.trusted = trusted
        sock.setblocking(False)
        self._loop = asyncio.get_running_loop()
        self._pending: set[asyncio.Task[None]] = set()
        self._said: set[tuple[str, str]] = set()
        self._task = self._loop.create_task(self._accept(), name="proxied-listener")

    async def _accept(self) -> None:
        try:
            while True:
                try:
                    conn, peer = await self._loop.sock_accept(self.sock)
                except OSError as exc:  # out of descriptors, a connection reset while queued
                    log.warning("accepting an HTTPS connection failed: %s", exc)
                    await asyncio.sleep(0.1)
                    continue
                task = self._loop.create_task(self._open(conn, peer))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
        finally:  # closed once the accept under way has let go of it
            self.sock.close()

    async def _open(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.setblocking(False)
        try:
            if not self.trusted(peer[0]):
                raise ProxyHeaderError(f"{peer[0]} is not in EDGE_TRUSTED_PROXIES")
            async with asyncio.timeout(self.header_timeout):
                header = await read_header(self._loop, conn)
            client = header.source or (peer[0], peer[1])
            await self._loop.connect_accepted_socket(
                lambda: self.factory(client),
                conn,
                ssl=self.tls,
                ssl_handshake_timeout=self.handshake_timeout,
                ssl_shutdown_timeout=self.shutdown_timeout,
            )
        except (ProxyHeaderError, TimeoutError) as exc:
            # Once per address and reason (a misconfigured balancer, or a stranger knocking):
            # the port is open to anyone, who must not be able to fill the log.
            said = (peer[0], str(exc))
            if said not in self._said and len(self._said) < self.max_said:
                self._said.add(said)
                log.warning("HTTPS connection from %s closed: %s", peer[0], exc or "timed out")
            conn.close()
        except (OSError, ssl.SSLError) as exc:  # a failed handshake: as without the header
            log.debug("HTTPS connection from %s failed: %s", peer[0], exc)
            conn.close()

    def close(self) -> None:
        """Stop accepting and close the listening socket (as ``asyncio.Server.close``)."""
        self._task.cancel()
        for task in self._pending:
            task.cancel()

    async def wait_closed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await asyncio.gather(*self._pending, return_exceptions=True)
