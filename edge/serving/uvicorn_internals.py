"""The only code that uses uvicorn's internals: the edge's HTTP protocol and its listeners.

uvicorn's public surface is ``uvicorn.run``, ``Config`` and ``Server`` serving an ASGI app.
The edge needs two things beyond it:

* **The fast path** (:class:`EdgeHttpProtocol`, a subclass of uvicorn's httptools protocol).
  uvicorn turns every request into an ASGI scope, a request-response cycle object, an
  asyncio task and two checked ``send`` messages: about two thirds of the CPU a redirect
  costs. Yet a click or an open needs no I/O at all (the token is verified in memory and the
  event appended to a list), so the protocol asks the app's ``reply_now`` for the whole
  response as soon as the request head is parsed, and writes it itself. Whatever the app
  declines (the admin host, ``/.well-known/``), and any request that is not a plain bodyless
  GET or HEAD, takes uvicorn's ASGI path unchanged, which calls the same ``reply_now``: both
  paths give the same bytes. Writes leave at the end of the loop turn, all connections' at
  once and after the turn's events are in the spool (:mod:`edge.serving.connections`).
* **HTTPS beside HTTP** (:class:`EdgeListeners`, a ``uvicorn.Server`` whose startup opens a
  plain and a TLS listener sharing one app and one lifespan; with ``--workers``, uvicorn's own
  supervisor runs it in each worker).

Fenced. At import this module looks, in the installed uvicorn, for every private name it
relies on (methods, the attributes those methods set, call signatures) and lists the
missing ones in :data:`FAST_PATH_MISSING` and :data:`LISTENERS_MISSING`. If the fast path's
are missing it logs one line saying which, and :func:`http_protocol` returns uvicorn's own
``"httptools"``: the edge is then served through uvicorn's public ASGI path, slower but with
the same answers. If the listeners' are missing, ``serve --https-port`` stops with one line
(:func:`require_listeners`); HTTP alone, with any number of workers, is uvicorn's public
``run`` and still works. :data:`SUPPORTED` is the range CI tests (``pyproject.toml`` pins it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import socket
import sys
import weakref
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeAlias

import httptools
import uvicorn

from edge.config import Settings
from edge.db.factory import store_for
from edge.serving.certificates import CertificateStore
from edge.serving.clientaddr import ClientResolver
from edge.serving.connections import CoalescingTransport, ServerConnections
from edge.serving.proxy_protocol import ProxiedListener
from edge.serving.snapshot import snapshot
from edge.serving.tracking import Reply

try:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError:  # reported by the check below; the classes are then never used
    STATUS_LINE, HttpToolsProtocol = {}, asyncio.Protocol  # type: ignore[assignment,misc]
try:
    from uvicorn.supervisors import multiprocess
except ImportError:
    multiprocess = None  # type: ignore[assignment]

#: The uvicorn (and httptools) releases this module is tested with.
SUPPORTED = "uvicorn >=0.55,<0.56 with httptools >=0.9,<0.10"

log = logging.getLogger("edge.serving")
STARTUP_FAILURE = 3


# -- the check ------------------------------------------------------------------------------


def _methods(owner: object, label: str, names: str) -> list[str]:
    """Those of ``names`` (space-separated) that are not methods of ``owner``."""
    return [f"{label}.{n}" for n in names.split() if not callable(getattr(owner, n, None))]


def _assigned(owner: object, method: str, label: str, names: str) -> list[str]:
    """Those of ``names`` that ``owner.method`` no longer mentions (today it sets or calls
    them): how an instance attribute can be looked for without making an instance."""
    function = getattr(owner, method, None)
    if function is None:
        return []  # the method itself is reported missing
    code = getattr(function, "__code__", None)
    used = code.co_names if code is not None else ()
    return [f"{label}.{n}" for n in names.split() if n not in used]


def _params(function: object, label: str, names: str) -> list[str]:
    """``label(names)`` unless ``function`` takes ``names`` first, after ``self``."""
    if function is None:
        return []  # reported missing as a method
    try:
        params = list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        params = []
    expected = names.split()
    return [] if params[1 : len(expected) + 1] == expected else [f"{label}({', '.join(expected)})"]


def _fast_path_missing() -> list[str]:
    try:
        from uvicorn.protocols.http import httptools_impl as impl
        from uvicorn.protocols.http.flow_control import FlowControl
        from uvicorn.server import ServerState
    except ImportError as exc:
        return [exc.name or str(exc)]
    protocol, label = impl.HttpToolsProtocol, "HttpToolsProtocol"
    return [
        *_methods(
            protocol,
            label,
            "connection_made connection_lost data_received on_message_begin on_url on_header "
            "on_headers_complete on_message_complete on_response_complete _start_asgi_task "
            "_unset_keepalive_if_required _should_upgrade handle_websocket_upgrade "
            "_unsupported_upgrade_warning send_400_response",
        ),
        *_params(
            getattr(protocol, "_start_asgi_task", None), f"{label}._start_asgi_task", "cycle app"
        ),
        *_assigned(
            protocol,
            "__init__",
            label,
            "app loop parser logger root_path limit_concurrency access_log access_logger "
            "timeout_keep_alive server_state connections pipeline cycle",
        ),
        *_assigned(protocol, "connection_made", label, "transport flow client connections"),
        *_assigned(protocol, "connection_lost", label, "_unset_keepalive_if_required"),
        # The fast path makes no ASGI scope; the ASGI path has on_message_begin make it
        # (and the rest it resets) late, in on_headers_complete (_begin_asgi).
        *_assigned(protocol, "on_message_begin", label, "url expect_100_continue headers scope"),
        # It reads the target from ``url``, which on_url fills here.
        *_assigned(protocol, "on_headers_complete", label, "url"),
        *_assigned(
            impl.RequestResponseCycle, "__init__", "RequestResponseCycle", "response_complete"
        ),
        *_assigned(FlowControl, "__init__", "FlowControl", "write_paused"),
        *_methods(FlowControl, "FlowControl", "resume_reading"),
        *_assigned(ServerState, "__init__", "ServerState", "total_requests default_headers"),
        *([] if 302 in STATUS_LINE else ["httptools_impl.STATUS_LINE"]),
    ]


def _listeners_missing() -> list[str]:
    if multiprocess is None:
        return ["uvicorn.supervisors.multiprocess"]
    try:
        from uvicorn.lifespan.on import LifespanOn
    except ImportError as exc:
        return [exc.name or str(exc)]
    server, process, supervisor = uvicorn.Server, multiprocess.Process, multiprocess.Multiprocess
    worker, pool = "multiprocess.Process", "multiprocess.Multiprocess"
    return [
        *_methods(server, "Server", "startup shutdown _serve run"),
        *_params(getattr(server, "startup", None), "Server.startup", "sockets"),
        *_params(getattr(server, "shutdown", None), "Server.shutdown", "sockets"),
        *_assigned(server, "_serve", "Server", "lifespan startup"),
        *_assigned(server, "__init__", "Server", "config server_state started"),
        *_assigned(server, "shutdown", "Server", "servers"),
        *_assigned(uvicorn.Config, "load", "Config", "http_protocol_class lifespan_class"),
        *_methods(LifespanOn, "LifespanOn", "startup shutdown"),
        *_assigned(LifespanOn, "__init__", "LifespanOn", "should_exit state"),
        *_params(
            HttpToolsProtocol.__init__, "HttpToolsProtocol", "config server_state app_state _loop"
        ),
        *_params(process.__init__, worker, "config sockets"),
        *_assigned(process, "__init__", worker, "_server"),
        *([] if isinstance(getattr(process, "server", None), property) else [f"{worker}.server"]),
        *_params(supervisor.__init__, pool, "config sockets"),
        *_methods(supervisor, pool, "run"),
        # The supervisor makes its workers from the module's ``Process`` (swapped below).
        *_assigned(supervisor, "init_processes", pool, "Process"),
        *_assigned(supervisor, "keep_subprocess_alive", pool, "Process"),
    ]


def _uvicorn_version() -> str:
    try:
        return version("uvicorn")
    except PackageNotFoundError:
        return "(unknown version)"


#: Private names the fast path needs and this uvicorn lacks: if any, it is off.
FAST_PATH_MISSING: list[str] = _fast_path_missing()
#: Private names HTTPS beside HTTP needs and this uvicorn lacks: if any, it is refused.
LISTENERS_MISSING: list[str] = _listeners_missing()

if FAST_PATH_MISSING:
    log.warning(
        "uvicorn %s lacks %s, which the edge's fast path relies on (supported: %s); serving "
        "through uvicorn's public ASGI path instead",
        _uvicorn_version(),
        ", ".join(FAST_PATH_MISSING),
        SUPPORTED,
    )


class UnsupportedUvicorn(Exception):
    """The installed uvicorn lacks what a feature needs; the message is one line."""


def http_protocol() -> type[asyncio.Protocol] | str:
    """What to pass as ``uvicorn.run(http=...)``: the edge's protocol, or uvicorn's own
    httptools protocol when the installed uvicorn lacks what the fast path relies on."""
    return EdgeHttpProtocol if not FAST_PATH_MISSING else "httptools"


def require_listeners() -> None:
    """Raise :class:`UnsupportedUvicorn` unless HTTPS beside HTTP can run on this uvicorn."""
    if LISTENERS_MISSING:
        raise UnsupportedUvicorn(
            f"HTTPS beside HTTP needs uvicorn internals that uvicorn {_uvicorn_version()} "
            f"lacks ({', '.join(LISTENERS_MISSING)}); supported: {SUPPORTED}"
        )


# -- the protocol ---------------------------------------------------------------------------

#: A request target the fast path answers: origin-form, ASCII, nothing to decode, no query
#: or fragment.
_PLAIN_TARGET = re.compile(rb"/[^%?#\x80-\xff]*")
# Header names that announce a request body: such requests take the ASGI path.
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)

#: Reason phrases as RFC 9110 §15.5 and RFC 6585 §5 give them (Python's differ by version).
_REFUSALS = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}

#: Seconds a refused connection may still send before it is closed (see ``_refuse``).
_LINGER = 2.0

#: What the connections of each server share (they share its ``server_state``).
_servers: weakref.WeakKeyDictionary[Any, ServerConnections] = weakref.WeakKeyDictionary()


#: An app's ``reply_now(method, path, headers, client)``
#: (:meth:`edge.serving.server.EdgeServer.reply_now`).
ReplyNow: TypeAlias = Callable[
    [str, str, list[tuple[bytes, bytes]], tuple[str, int] | None], Reply | None
]


class _Refused(Exception):
    """Raised in a parser callback: stop reading this request head, answer ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status


class EdgeHttpProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=EdgeHttpProtocol)``: the fast path described above, for an
    app with a ``reply_now(method, path, headers, client)`` method returning a
    :class:`~edge.serving.tracking.Reply` or ``None``, a ``flush_events()`` method that
    writes recorded events to the spool (run before each loop turn's responses leave), and
    an ``http_limits`` attribute (:class:`~edge.serving.connections.HttpLimits`), all optional.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reply_now: ReplyNow | None = getattr(self.app, "reply_now", None)
        shared = _servers.get(self.server_state)
        if shared is None:
            shared = _servers[self.server_state] = ServerConnections(self.loop, self.app)
        self._turn, self._limits, self._idle = shared.turn, shared.limits, shared.idle
        self._shared = shared
        #: Fixed for the server: does it allow the fast path at all (no root path to
        #: prepend, no concurrency limit to count requests against)?
        self._fast = not self.root_path and self.limit_concurrency is None
        #: The response to the request being parsed, written when its message completes.
        self._ready: bytes | None = None
        self._close_after = False
        #: Loop time a request head began, ``None`` between heads.
        self._head_at: float | None = None
        #: Heads begun on this connection; bytes of this head seen in callbacks and in reads.
        self._heads = 0
        self._head_size = 0
        self._head_streamed = 0
        self._url_parts: list[bytes] = []
        #: Refused: what arrives is dropped until the connection is closed.
        self._discard = False
        #: A refusal waiting for the responses under way (``_refuse``).
        self._refusal: int | None = None
        #: Loop time the connection went idle (no request in flight), ``None`` while busy.
        self._idle_at: float | None = None
        #: The one timer of this connection (head and keep-alive timeouts), and when it fires.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    #: The client named by the connection's PROXY protocol header, set before
    #: ``connection_made`` (edge/serving/proxy_protocol.py); ``None``: the peer is the client.
    proxied_client: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self._turn))  # type: ignore[arg-type]
        if self.proxied_client is not None:
            self.client = self.proxied_client
        if not self._idle.admit(len(self.connections)):
            self.transport.close()  # at the cap, and every connection is answering a request
            return
        self._went_idle()  # a silent new connection is closed after the keep-alive timeout

    def evict(self) -> None:
        """Closed to make room for a new connection (it was the longest idle)."""
        self.transport.close()

    # Reading a request head, with bounded time and memory. Bytes are counted from the
    # parser's callbacks (the target, each complete header field) and from whole reads that
    # arrive while a head is incomplete (a header field too long to be complete yet), so a
    # head is refused at most one read past its limit.

    def data_received(self, data: bytes) -> None:
        # uvicorn's, with the refusals below and without a timer operation per request.
        if self._discard:
            return  # refused: only waiting for the client to close
        heads, in_head = self._heads, self._head_at is not None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _Refused):
                self._refuse(exc.__context__.status)
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        if self._head_at is not None and in_head and heads == self._heads:
            self._head_streamed += len(data)  # all of it part of one head still incomplete
            if self._head_streamed > self._limits.max_head:
                self._refuse(431)

    def on_message_begin(self) -> None:
        # uvicorn's without the ASGI scope (two dicts and a copy of the app state, a tenth of
        # a click's cost): the fast path needs none, and the ASGI path has uvicorn make it in
        # on_headers_complete (_begin_asgi).
        if self.transport.is_closing():
            # Pipelined behind a response that closes the connection (a 400, HTTP/1.0, an
            # error): never answered, so neither answered here nor recorded.
            self._discard = True
        # Busy from a head's first byte, not from any read: bytes that begin no request (a
        # lone CRLF) must not hold the connection past its keep-alive timeout.
        self._idle_at = None
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self._heads += 1
        self._head_size = self._head_streamed = 0
        self._url_parts = []
        self._head_at = now = self.loop.time()
        at = now + self._limits.head_timeout
        if self._timer is None or self._timer_at > at:  # _arm's test, inline: rarely true
            self._arm(at)

    def on_url(self, url: bytes) -> None:
        # Gathered in a list: uvicorn's ``self.url += url`` copies all that came before on
        # every read, quadratic in the length of a request line that arrives slowly.
        self._url_parts.append(url)
        self._head_size += len(url)  # the target comes first: this is its length so far
        if self._head_size > self._limits.max_request_line:
            raise _Refused(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_size > self._limits.max_head:
            raise _Refused(431)
        # uvicorn's, inline (a call per header field): names lower-case, trailing white space
        # off the value (RFC 9110 §5.5), and note an "Expect: 100-continue".
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._head_at = None
        if self._discard:
            return
        parts = self._url_parts
        url = self.url = parts[0] if len(parts) == 1 else b"".join(parts)
        reply_now = self._reply_now
        if reply_now is not None and self._answer_now(reply_now, url):
            return
        self._idle.busy(self)
        self._begin_asgi(url)
        super().on_headers_complete()

    def _begin_asgi(self, url: bytes) -> None:
        """Have uvicorn's on_message_begin make the request's ASGI scope now, keeping what
        this request's head set meanwhile."""
        headers, expect_100_continue = self.headers, self.expect_100_continue
        super().on_message_begin()
        self.headers = self.scope["headers"] = headers
        self.url, self.expect_100_continue = url, expect_100_continue

    def _refuse(self, status: int) -> None:
        """Answer ``status`` for a request head the edge will not read, and close.

        Closed in stages (RFC 9112 §9.6): the write side first, then, once the client has
        closed its side or after ``_LINGER`` seconds, all of it; what arrives meanwhile is
        dropped. Closed at once with unread bytes, the connection would be reset and the
        client could lose the answer.
        """
        self._head_at = None
        self._discard = True
        cycle = self.cycle
        if self.pipeline or (cycle is not None and not cycle.response_complete):
            # Responses go in the order of their requests (RFC 9112 §9.3): after those
            # under way (on_response_complete).
            self._refusal = status
            return
        self._write_refusal(status)

    def _write_refusal(self, status: int) -> None:
        message = _REFUSALS[status]
        content = [b"HTTP/1.1 %d %s\r\n" % (status, message)]
        for name, value in self.server_state.default_headers:
            content += (name, b": ", value, b"\r\n")
        content += (
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(message),
            b"connection: close\r\n\r\n",
            message,
        )
        self.transport.write(b"".join(content))
        if self.transport.can_write_eof():  # not on TLS, whose close says goodbye itself
            self.transport.write_eof()
            self.loop.call_later(_LINGER, self.transport.close)
        else:
            self.transport.close()

    def _answer_now(self, reply_now: ReplyNow, url: bytes) -> bool:
        """Answer the parsed request head at once if it may be; returns whether it was."""
        parser = self.parser
        method = parser.get_method()
        cycle = self.cycle
        if (
            (method != b"GET" and method != b"HEAD")
            or not self._fast
            # Requests wait their turn behind a response still being made (pipelining).
            or (cycle is not None and not cycle.response_complete)
            or self.pipeline
            # Paths that need decoding, queries, fragments (uvicorn drops one; so does the
            # ASGI path), non-ASCII and absolute-form targets: the ASGI path.
            or _PLAIN_TARGET.fullmatch(url) is None
            or self.flow.write_paused
            or parser.should_upgrade()
        ):
            return False
        for name, value in self.headers:
            if name in _BODY_HEADERS and value != b"0":
                return False
        method_str = "GET" if method == b"GET" else "HEAD"
        try:
            reply = reply_now(method_str, url.decode("ascii"), self.headers, self.client)
        except Exception:
            log.exception("Exception in reply_now")
            self._ready, self._close_after = _SERVER_ERROR, True
            return True
        if reply is None:
            return False
        version = parser.get_http_version()
        if self.access_log:  # the line uvicorn's ASGI path logs
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                f"{self.client[0]}:{self.client[1]}" if self.client else "-",
                method_str,
                url.decode("ascii"),
                version,
                reply.status,
            )
        close = reply.close
        keep_alive = not close and version != "1.0" and parser.should_keep_alive()
        self._ready = b"".join(
            (
                STATUS_LINE[reply.status],
                # date (and server, if on), as uvicorn sends them
                self._shared.default_lines(self.server_state.default_headers),
                reply.head,
                # A closing reply's headers say so already.
                b"\r\n" if keep_alive or close else b"connection: close\r\n\r\n",
                reply.body if method_str == "GET" else b"",
            )
        )
        self._close_after = not keep_alive
        return True

    def on_message_complete(self) -> None:
        if self._discard:
            return
        ready = self._ready
        if ready is None:
            super().on_message_complete()
            return
        self._ready = None
        self.transport.write(ready)
        self.server_state.total_requests += 1
        if self._close_after:
            self.transport.close()
        else:
            self._went_idle()

    # Timeouts, kept lazily. uvicorn arms a new keep-alive timer after every response and
    # cancels it when the next request arrives: two timer operations per request, a tenth
    # of what a fast-path request costs. Here one timer stays armed; each request only notes
    # the time, and the timer, when it fires, acts if the connection has been idle (or in
    # one request head) long enough, or else waits for the rest.

    def on_response_complete(self) -> None:
        # uvicorn's, with _went_idle() for its new timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._refusal is not None:
            self._write_refusal(self._refusal)
        else:
            self._went_idle()

    def _went_idle(self) -> None:
        self._idle_at = now = self.loop.time()
        self._idle.idle(self)
        at = now + self.timeout_keep_alive
        if self._timer is None or self._timer_at > at:  # as above
            self._arm(at)

    def _arm(self, at: float) -> None:
        """Make sure the timer fires by ``at``."""
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._head_at is not None:
            deadline = self._head_at + self._limits.head_timeout
            if now >= deadline:
                self._refuse(408)  # RFC 9110 §15.5.9
                return
        elif self._idle_at is not None:
            deadline = self._idle_at + self.timeout_keep_alive
            if now >= deadline:
                self.transport.close()
                return
        else:
            return  # busy: the next idle moment or request head arms it again
        self._arm(deadline)

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this on connection loss: nothing to do, the timer goes below.
        self._idle_at = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._idle.busy(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# -- the listeners --------------------------------------------------------------------------


class EdgeListeners(uvicorn.Server):
    """A uvicorn server listening for HTTP on some sockets and HTTPS on others.

    ``sockets`` passed to :meth:`run` are split by port: those bound to ``https_port`` get TLS
    (with the per-SNI :class:`~edge.serving.certificates.CertificateStore`); uvicorn's protocol
    classes tell the app the scheme of each connection. ``settings`` is read in the worker
    (from the environment when ``None``), so the object stays picklable for worker processes.
    """

    def __init__(
        self, config: uvicorn.Config, *, https_port: int | None, settings: Settings | None = None
    ) -> None:
        super().__init__(config)
        self.https_port = https_port
        self.settings = settings
        self.certificates: CertificateStore | None = None
        #: Holds the certificate store's polling from startup to shutdown.
        self._running = contextlib.AsyncExitStack()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:
            # Single process, nothing bound yet: bind here, as uvicorn would.
            try:
                sockets = [bind(self.config.host, self.config.port)]
                if self.https_port is not None:
                    sockets.append(bind(self.config.host, self.https_port))
            except OSError as exc:
                log.error("%s", exc)
                sys.exit(STARTUP_FAILURE)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        tls = None
        proxied = False
        if self.https_port is not None:
            settings = self.settings or Settings.from_env()
            proxies = ClientResolver(settings.trusted_proxies)
            proxied = settings.https_proxy_protocol
            self.certificates = CertificateStore(
                store_for(settings),
                default_domain=settings.default_domain,
                poll_interval=settings.domain_poll_interval,
                snapshot=snapshot(settings, CertificateStore.snapshot_name),
            )
            await self._running.enter_async_context(self.certificates.running())
            tls = self.certificates.listener_context()

        def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=_loop,
            )

        def proxied_protocol(client: tuple[str, int]) -> asyncio.Protocol:
            protocol = create_protocol()
            protocol.proxied_client = client  # type: ignore[attr-defined]
            return protocol

        loop = asyncio.get_running_loop()
        self.servers = []
        for sock in sockets:
            secure = tls is not None and sock.getsockname()[1] == self.https_port
            if secure and proxied:
                assert tls is not None
                listener = ProxiedListener(sock, proxied_protocol, tls, proxies.is_trusted)
                self.servers.append(listener)  # type: ignore[arg-type]
                continue
            server = await loop.create_server(
                create_protocol,
                sock=sock,
                ssl=tls if secure else None,
                backlog=config.backlog,
                # Bound the handshake: a client that opens a socket and says nothing must
                # not hold it forever.
                ssl_handshake_timeout=10.0 if secure else None,
                ssl_shutdown_timeout=5.0 if secure else None,
            )
            self.servers.append(server)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        await self._running.aclose()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, as uvicorn binds one (address reuse, IPv6 when the host is)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ListenersConfig(uvicorn.Config):
    """A uvicorn ``Config`` that also carries the HTTPS port (it travels to worker processes)."""

    def __init__(self, app: str, *, https_port: int, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self.https_port = https_port


def run_listeners(config: ListenersConfig) -> None:
    """Serve ``config``'s app on its port (HTTP) and on ``config.https_port`` (HTTPS).

    With ``config.workers > 1`` both sockets are bound here, once, and inherited by every
    worker, under uvicorn's own supervisor (health checks, restarts, signals). Raises
    :class:`UnsupportedUvicorn` if the installed uvicorn lacks what this needs.
    """
    require_listeners()
    if config.workers <= 1:
        EdgeListeners(config, https_port=config.https_port).run()
        return
    sockets = [bind(config.host, config.port), bind(config.host, config.https_port)]
    # uvicorn's supervisor builds its workers from the module's ``Process`` in four places,
    # and a worker runs a plain ``Server``; swapping in _Worker for the supervisor's lifetime
    # is the smallest way to run EdgeListeners under it. Only the CLI process calls this.
    original = multiprocess.Process
    multiprocess.Process = _Worker  # type: ignore[misc]
    try:
        multiprocess.Multiprocess(config, sockets=sockets).run()
    finally:
        multiprocess.Process = original  # type: ignore[misc]


if multiprocess is not None:  # else require_listeners() refuses before it is needed

    class _Worker(multiprocess.Process):
        """uvicorn's worker process, running :class:`EdgeListeners` instead of a plain server
        (module-level: the worker process unpickles it by name)."""

        @property
        def server(self) -> uvicorn.Server:
            if self._server is None:
                config = self.config
                assert isinstance(config, ListenersConfig)
                self._server = EdgeListeners(config, https_port=config.https_port)
            return self._server
