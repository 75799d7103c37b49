"""HTTP and HTTPS from one uvicorn server: one app, one lifespan, two listening sockets.

``uvicorn.run`` serves one address with one TLS setting. :class:`EdgeListeners` is a
``uvicorn.Server`` whose startup opens a plain listener on the HTTP socket and a TLS listener
(with the per-SNI :class:`~edge.certs.CertificateStore`) on the HTTPS socket, sharing the app
and its lifespan; uvicorn's protocol classes tell the app the scheme of each connection.
With ``--workers`` the parent binds both sockets and uvicorn's ``Multiprocess`` supervisor
runs :meth:`run` in each worker with both; each worker keeps its own certificate store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys

import uvicorn
from uvicorn.supervisors import multiprocess

from edge.config import Settings
from edge.db.factory import store_for
from edge.serving.certificates import CertificateStore

STARTUP_FAILURE = 3
logger = logging.getLogger("uvicorn.error")


class EdgeListeners(uvicorn.Server):
    """A uvicorn server listening for HTTP on some sockets and HTTPS on others.

    ``sockets`` passed to :meth:`run` are split by port: those bound to ``https_port`` get TLS.
    ``settings`` is read in the worker (from the environment when ``None``), so the object
    stays picklable for worker processes.
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
                logger.error(exc)
                sys.exit(STARTUP_FAILURE)
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        tls = None
        if self.https_port is not None:
            settings = self.settings or Settings.from_env()
            self.certificates = CertificateStore(
                store_for(settings),
                default_domain=settings.default_domain,
                poll_interval=settings.domain_poll_interval,
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

        loop = asyncio.get_running_loop()
        self.servers = []
        for sock in sockets:
            secure = tls is not None and sock.getsockname()[1] == self.https_port
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


def run(config: ListenersConfig) -> None:
    """Serve ``config``'s app on its port (HTTP) and on ``config.https_port`` (HTTPS).

    With ``config.workers > 1`` both sockets are bound here, once, and inherited by every
    worker, under uvicorn's own supervisor (health checks, restarts, signals).
    """
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


class _Worker(multiprocess.Process):
    """uvicorn's worker process, running :class:`EdgeListeners` instead of a plain server."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            config = self.config
            assert isinstance(config, ListenersConfig)
            self._server = EdgeListeners(config, https_port=config.https_port)
        return self._server
