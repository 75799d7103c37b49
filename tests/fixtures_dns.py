"""A real DNS server on a loopback port, answering from records a test sets.

``dns_server`` listens on 127.0.0.1 (UDP and TCP, same port) and answers as a recursive
resolver would from its own data: it follows CNAMEs it knows and puts the whole chain in the
answer section, and a name it does not know is NXDOMAIN. Point the code under test at it with
``dns_server.nameserver`` (``"127.0.0.1:PORT"``)::

    dns_server.set_cname("track.brand.test", "edge.test")
    dns_server.set_a("edge.test", "127.0.0.1")
    dns_server.set_cname("*.edge.test", "edge.test")   # a wildcard: any name below edge.test
    dns_server.stop_answering()   # queries are read and dropped: the client times out
    dns_server.answer_rcode(dns.rcode.SERVFAIL)
    dns_server.set_a_sequence("rebind.test", ["192.0.2.1"], ["127.0.0.1"])  # TTL 0
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

#: How many CNAMEs the server follows before giving up (loops in the test's records).
MAX_CHASE = 20
TTL = 60


def _key(name: str | dns.name.Name) -> str:
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    return text.rstrip(".").lower()


@dataclass
class Zone:
    """The records, keyed by lower-case name without the final dot."""

    cnames: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    #: Answers given in turn, the last one repeated: ``(name, rdtype) -> [answer, ...]``.
    sequences: dict[tuple[str, int], list[list[str]]] = field(default_factory=dict)
    ttls: dict[str, int] = field(default_factory=dict)
    #: ``None``: answer normally; ``-1``: drop every query; else answer this rcode.
    mode: int | None = None
    queries: list[tuple[str, str]] = field(default_factory=list)
    #: ``"udp"`` or ``"tcp"`` for each query, in the same order.
    protocols: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def exists(self, name: str) -> bool:
        return name in self.cnames or name in self.addresses

    def owner(self, name: str) -> str | None:
        """The record set that answers for ``name``: its own, or else a wildcard's, as RFC 4592
        synthesises it (simplified: the nearest ``*.<ancestor>``, only for a name that does
        not exist, and not when a name between them does)."""
        if self.exists(name):
            return name
        labels = name.split(".")
        for i in range(1, len(labels)):
            ancestor = ".".join(labels[i:])
            if self.exists("*." + ancestor):
                return "*." + ancestor
            if self.exists(ancestor):
                return None
        return None

    def answer(self, wire: bytes, *, udp: bool = False) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        with self.lock:
            self.queries.append((_key(question.name), dns.rdatatype.to_text(question.rdtype)))
            self.protocols.append("udp" if udp else "tcp")
            if self.mode == -1:
                return None
            response = dns.message.make_response(query)
            response.flags |= dns.flags.RA
            if self.mode is not None:
                response.set_rcode(self.mode)
                return response.to_wire()
            self._resolve(response, question.name, question.rdtype)
        # Over UDP an answer must fit the client's buffer (512 bytes without EDNS, RFC 1035
        # §4.2.1); a larger one is sent empty with TC set, and the client retries over TCP.
        limit = max(query.payload, 512) if udp and query.edns >= 0 else 512 if udp else 65535
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.RA | dns.flags.TC
            return truncated.to_wire()

    def _resolve(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        name = qname
        for _ in range(MAX_CHASE):
            key = self.owner(_key(name))
            if key is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                return
            target = self.cnames.get(key)
            if target is not None:
                rrset = dns.rrset.from_text(name, TTL, "IN", "CNAME", target + ".")
                response.answer.append(rrset)
                if rdtype == dns.rdatatype.CNAME:
                    return
                name = dns.name.from_text(target)
                continue
            values = self.addresses[key].get(rdtype, [])
            turns = self.sequences.get((key, rdtype))
            if turns:
                values = turns.pop(0) if len(turns) > 1 else turns[0]
            if values:
                kind = dns.rdatatype.to_text(rdtype)
                ttl = self.ttls.get(key, TTL)
                response.answer.append(dns.rrset.from_text(name, ttl, "IN", kind, *values))
            return
        response.set_rcode(dns.rcode.SERVFAIL)  # a resolver's answer to a CNAME loop


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.zone.answer(data, udp=True)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        with contextlib.suppress(OSError, struct.error):
            while True:
                header = conn.recv(2, socket.MSG_WAITALL)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                reply = self.server.zone.answer(conn.recv(length, socket.MSG_WAITALL))  # type: ignore[attr-defined]
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)


class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class DNSServer:
    """The running server and the records it serves."""

    def __init__(self) -> None:
        self.zone = Zone()
        self._udp, self._tcp = self._bind()
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in (self._udp, self._tcp)
        ]
        for thread in self._threads:
            thread.start()

    def _bind(self) -> tuple[_UDPServer, _TCPServer]:
        # UDP picks a free port; TCP must get the same one, which is free in practice.
        for _ in range(20):
            udp = _UDPServer(("127.0.0.1", 0), _UDPHandler)
            try:
                tcp = _TCPServer(("127.0.0.1", udp.server_address[1]), _TCPHandler)
            except OSError:
                udp.server_close()
                continue
            udp.zone = tcp.zone = self.zone  # type: ignore[attr-defined]
            return udp, tcp
        raise RuntimeError("no loopback port free for both UDP and TCP")

    @property
    def port(self) -> int:
        return self._udp.server_address[1]

    @property
    def nameserver(self) -> str:
        """The value for ``EDGE_DNS_NAMESERVERS``."""
        return f"127.0.0.1:{self.port}"

    def set_cname(self, name: str, target: str) -> None:
        with self.zone.lock:
            self.zone.addresses.pop(_key(name), None)
            self.zone.cnames[_key(name)] = target.rstrip(".")

    def set_a(self, name: str, *addresses: str) -> None:
        self._set_address(name, dns.rdatatype.A, addresses)

    def set_aaaa(self, name: str, *addresses: str) -> None:
        self._set_address(name, dns.rdatatype.AAAA, addresses)

    def _set_address(self, name: str, rdtype: int, addresses: tuple[str, ...]) -> None:
        with self.zone.lock:
            self.zone.cnames.pop(_key(name), None)
            self.zone.addresses.setdefault(_key(name), {})[rdtype] = list(addresses)

    def set_a_sequence(self, name: str, *answers: list[str], ttl: int = 0) -> None:
        """Each A query of ``name`` gets the next of ``answers`` (the last one repeats), with
        ``ttl``: a name rebinding from one address to another between lookups."""
        with self.zone.lock:
            self.zone.cnames.pop(_key(name), None)
            self.zone.addresses.setdefault(_key(name), {})
            self.zone.sequences[(_key(name), dns.rdatatype.A)] = [list(a) for a in answers]
            self.zone.ttls[_key(name)] = ttl

    def set_empty(self, name: str) -> None:
        """``name`` exists but has no records of any type the tests ask for (NoAnswer)."""
        with self.zone.lock:
            self.zone.cnames.pop(_key(name), None)
            self.zone.addresses[_key(name)] = {}

    def clear(self, name: str) -> None:
        """Remove every record of ``name``: it becomes NXDOMAIN."""
        with self.zone.lock:
            self.zone.cnames.pop(_key(name), None)
            self.zone.addresses.pop(_key(name), None)

    def stop_answering(self) -> None:
        """Read queries and drop them, like a dead or firewalled resolver."""
        self.zone.mode = -1

    def answer_rcode(self, rcode: int) -> None:
        """Answer every query with ``rcode`` (e.g. ``dns.rcode.SERVFAIL``)."""
        self.zone.mode = rcode

    def resume(self) -> None:
        self.zone.mode = None

    @property
    def queries(self) -> list[tuple[str, str]]:
        """``(name, type)`` of every query received, in order."""
        with self.zone.lock:
            return list(self.zone.queries)

    @property
    def protocols(self) -> list[str]:
        """``"udp"``/``"tcp"`` of every query received, in order."""
        with self.zone.lock:
            return list(self.zone.protocols)

    def close(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()


@pytest.fixture
def dns_server() -> Iterator[DNSServer]:
    server = DNSServer()
    yield server
    server.close()
