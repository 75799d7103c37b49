"""The outermost ASGI app: lifespan of the shared parts, and dispatch by ``Host``.

``EDGE_ADMIN_HOST`` goes to the admin app; any other host is a tracking host, served only if
the domain table says so. The admin API is therefore never reachable through a tracking
domain, and tracking paths are never served on the admin host or an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from edge.config import Settings
from edge.db.factory import store_for
from edge.db.store import Store, StoreUnavailable
from edge.events.ingester import EventIngester
from edge.events.recorder import EventRecorder
from edge.events.spool import SpoolReader, SpoolWriter
from edge.hosts import HostCache
from edge.periodic import Periodic
from edge.serving.clientaddr import ClientResolver
from edge.serving.connections import HttpLimits
from edge.serving.domains import DomainTable
from edge.serving.keys import NodeKeys
from edge.serving.snapshot import snapshot
from edge.serving.tracking import (
    BAD_REQUEST_TWO_HOSTS,
    NOT_FOUND,
    Receive,
    Reply,
    Scope,
    Send,
    ServedCounters,
    TrackingApp,
    not_found,
)
from edge.tokens.codec import TokenCodec, load_secret_keys

log = logging.getLogger("edge.server")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: A capability's lifespan: what it runs while the server does.
Lifespan = Callable[[], contextlib.AbstractAsyncContextManager[object]]
WellKnownApp = Callable[[Scope, Receive, Send, str], Awaitable[None]]
PROOF_PATH = "/.well-known/tracking-edge/verify"


@dataclass
class Runtime:
    """The parts every worker process shares between the edge and the admin API."""

    settings: Settings
    store: Store
    codec: TokenCodec
    domains: DomainTable
    recorder: EventRecorder
    #: This process's ingester (``EDGE_INGESTER=inline``); ``None`` when a separate process
    #: ingests the spool.
    ingester: EventIngester | None = None
    served: ServedCounters = field(default_factory=ServedCounters)

    @classmethod
    def build(cls, settings: Settings, store: Store | None = None) -> Runtime:
        store = store or store_for(settings)
        if settings.database_url and not settings.secret_keys:
            # The cluster's keys are read from its database at start (running()); until
            # then nothing is served, and this key signs nothing.
            codec = TokenCodec([secrets.token_urlsafe(32)])
        else:
            codec = TokenCodec(load_secret_keys(settings.secret_keys, settings.data_dir))
        domains = DomainTable(
            store,
            default_domain=settings.default_domain,
            default_secure=settings.default_secure,
            poll_interval=settings.domain_poll_interval,
            snapshot=snapshot(settings, DomainTable.snapshot_name),
        )
        recorder = EventRecorder(SpoolWriter(settings.spool_dir))
        ingester = None
        if settings.ingester == "inline":
            ingester = EventIngester.from_settings(settings, store)
            recorder.on_flush = ingester.wake
        return cls(settings, store, codec, domains, recorder, ingester)

    async def drain(self) -> None:
        """Wait until every event recorded so far is in the store (in the spool, when a
        separate process ingests it)."""
        await self.recorder.drain()
        if self.ingester is not None:
            await self.ingester.catch_up()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Runtime]:
        """The shared parts, for as long as the server runs. On the way out, everything
        recorded goes to the spool, and from there to the store if this process ingests."""
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self.store)
            except StoreUnavailable:
                # A node with copies of what it serves starts without the database; the
                # store opens on first use, once the database answers.
                if self.settings.snapshot_dir is None:
                    raise
                stack.push_async_callback(self.store.close)
            if self.settings.database_url:
                keys = NodeKeys(self.settings, self.store, self.codec)
                await keys.load()
                if keys.from_snapshot:  # the cluster's keys, once the database answers
                    await stack.enter_async_context(
                        Periodic(
                            "signing-keys", keys.load, interval=self.settings.domain_poll_interval
                        )
                    )
            if self.ingester is not None:
                await self.ingester.start()
                stack.push_async_callback(self.ingester.stop)
            await self.recorder.start()
            stack.push_async_callback(self.recorder.stop)
            await stack.enter_async_context(self.domains.polling())
            yield self

    def settings_changed(self) -> None:
        """An account's privacy switches changed: this process's ingester applies them from
        its next batch (another process's within a second)."""
        if self.ingester is not None:
            self.ingester.preparer.settings_changed()

    async def spool_backlog(self) -> int:
        """Bytes in the spool not yet stored, whichever process ingests them."""
        async with self.store.reading() as db:
            offsets = await db.spool.offsets()
        return await asyncio.to_thread(SpoolReader(self.settings.spool_dir).backlog_bytes, offsets)


def _host_header(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The ``Host`` field's value (empty if there is none); ``None`` if there are two."""
    found = None
    for name, value in headers:
        if name == b"host":
            if found is not None:
                return None
            found = value
    return b"" if found is None else found


@dataclass
class EdgeServer:
    """Host dispatch plus the lifespan protocol (startup and the SIGTERM flush)."""

    runtime: Runtime
    admin_app: ASGIApp | None = None
    #: The capabilities' lifespans (admin's background jobs...): each an async context
    #: manager factory, entered in order after the runtime's, left in reverse before it.
    lifespans: list[Lifespan] = field(default_factory=list)
    #: ``/.well-known/<name>/`` handlers served on every host but the admin host, whatever
    #: the domain's state: verification and ACME HTTP-01 must work before a domain is served.
    #: Each is called as ``handler(scope, receive, send, host)``.
    well_known: dict[str, WellKnownApp] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._running = contextlib.AsyncExitStack()
        rt = self.runtime
        self.tracking = TrackingApp(
            rt.codec,
            rt.recorder,
            rt.served,
            client=ClientResolver(rt.settings.trusted_proxies),
        )
        self._admin_host = rt.settings.admin_host
        #: Read by the HTTP protocol (edge/serving/uvicorn_internals.py).
        self.http_limits = HttpLimits.from_settings(rt.settings)
        self._host = HostCache()
        self.well_known.setdefault("tracking-edge", self._domain_proof)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            method: str = scope["method"]
            reply = self.reply_now(method, scope["path"], scope["headers"], scope.get("client"))
            if reply is not None:
                # Its event in the spool before the answer leaves, whatever the protocol.
                self.flush_events()
                await reply.send(send, method)
                return
            host = self._host(_host_header(scope["headers"]) or b"")
            if host == self._admin_host:
                if self.admin_app is not None:
                    await self.admin_app(scope, receive, send)
                else:
                    await not_found(send, method)
                return
            # A /.well-known/ path on any other host.
            handler = self.well_known.get(scope["path"][13:].partition("/")[0])
            if handler is not None and host:
                await handler(scope, receive, send, host)
            else:
                await not_found(send, method)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websocket: not served; returning closes the connection.

    def reply_now(
        self,
        method: str,
        path: str,
        headers: list[tuple[bytes, bytes]],
        client: tuple[str, int] | None,
    ) -> Reply | None:
        """The response to a request on a tracking host, made at once (its event queued);
        ``None`` for the admin host and ``/.well-known/`` paths, which need the ASGI app; a
        400 for any request with two ``Host`` fields.

        The ASGI entry calls this first; so does the HTTP protocol's fast path
        (``edge/serving/uvicorn_internals.py``), with the same arguments, for a bodyless GET
        or HEAD.
        """
        raw_host = _host_header(headers)
        if raw_host is None:
            return BAD_REQUEST_TWO_HOSTS  # on every host and path, the admin API's too
        host = self._host(raw_host)
        if host == self._admin_host or (path.startswith("/.well-known/") and host):
            return None
        entry = self.runtime.domains.served(host)
        if entry is None:
            self.runtime.served.unknown_hosts += 1
            return NOT_FOUND
        return self.tracking.reply(method, path, headers, client, entry)

    def flush_events(self) -> None:
        """Write the events recorded so far to the spool. The HTTP protocol calls this before
        the responses of each loop turn are written, so that no client holds an answer whose
        event a crash (``kill -9``) could still lose."""
        self.runtime.recorder.write_pending()

    async def _domain_proof(self, scope: Scope, receive: Receive, send: Send, host: str) -> None:
        # Answered for any host, with no table lookup: a domain being verified is not served
        # yet, and may be unknown to this worker for up to a poll interval. The value is an
        # HMAC of the host name, so answering it reveals nothing.
        if scope["path"] != PROOF_PATH:
            await not_found(send, scope["method"])
            return
        body = self.runtime.codec.domain_proof(host).encode()
        headers = [
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def startup(self) -> None:
        try:
            await self._running.enter_async_context(self.runtime.running())
            for lifespan in self.lifespans:
                await self._running.enter_async_context(lifespan())
        except BaseException:
            await self._running.aclose()  # what did start stops again, in reverse
            raise
        # Everything built so far lives as long as the process: move it out of the garbage
        # collector's sight, so full collections stay short (a 50 ms pause became ~30 ms).
        gc.collect()
        gc.freeze()
        # A young-generation collection every 700 allocations ran every ~25 clicks, each
        # over objects a click frees by itself anyway; at 10,000 a click costs a few % less.
        gc.set_threshold(10_000, *gc.get_threshold()[1:])

    async def shutdown(self) -> None:
        await self._running.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    log.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return
