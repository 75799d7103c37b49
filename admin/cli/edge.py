"""``serve``, ``wrap`` and ``events``: running the edge and looking at what it records."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys

from admin.api.timestamps import parse_iso_ms
from admin.cli.errors import CLIError, port, require_text
from edge.config import Settings
from edge.db.factory import store_for
from edge.db.repositories import Repositories
from edge.db.repositories.events import EventFilter
from edge.db.store import StoreUnavailable
from edge.events.ingester_process import IngesterProcess
from edge.events.ingester_process import run_process as run_ingester
from edge.hosts import normalise_host
from edge.model.domains import TrackingHost
from edge.serving.domains import DomainTable
from edge.serving.keys import signing_keys
from edge.serving.snapshot import snapshot
from edge.tokens.codec import TokenCodec
from edge.tokens.links import LinkBuilder

BUILTIN_ACCOUNT_ID = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the server (edge and admin API)")
    serve.add_argument("--host", help="address to bind (default: the EDGE_HOST setting)")
    serve.add_argument("--port", type=port, help="port to listen on (default: the PORT setting)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--https-port", type=port, help="also serve HTTPS (certificates per SNI name) on this port"
    )
    serve.set_defaults(func=cmd_serve)

    ingest = sub.add_parser(
        "ingest", help="move recorded events from the spool into the database (serve runs one)"
    )
    ingest.add_argument("--once", action="store_true", help="exit once the spool is stored")
    ingest.set_defaults(func=cmd_ingest)

    wrap = sub.add_parser("wrap", help="print a tracked click URL (or, with --open, a pixel URL)")
    wrap.add_argument("url", nargs="?", help="the destination URL (not needed with --open)")
    wrap.add_argument("--domain", help="tracking domain (default: EDGE_DEFAULT_DOMAIN)")
    wrap.add_argument("--message", help="message reference recorded with each event")
    wrap.add_argument("--recipient", help="recipient reference (an address is hashed)")
    wrap.add_argument("--link", help="link name recorded with each click")
    wrap.add_argument("--open", action="store_true", help="print the open pixel URL instead")
    wrap.set_defaults(func=cmd_wrap)

    events = sub.add_parser("events", help="print recorded events as NDJSON")
    events.add_argument("--since", help="ISO 8601 time, e.g. 2026-11-01 or 2026-11-01T12:00Z")
    events.add_argument("--type", choices=("open", "click"), help="only opens or only clicks")
    events.set_defaults(func=cmd_events)


class _Stopped(Exception):
    """SIGTERM or SIGINT, once uvicorn has shut down."""


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    # Imported here, not at the top: its check of uvicorn's internals logs a line when it
    # fails, and only ``serve`` needs to say so.
    from edge.serving import uvicorn_internals

    if args.workers < 1:
        raise CLIError("--workers must be at least 1")
    settings = Settings.from_env()
    host = settings.listen_host if args.host is None else args.host
    port = settings.listen_port if args.port is None else args.port
    for listen_port in (port, args.https_port):
        if listen_port is not None:
            _check_listen(host, listen_port)
    # Prepare shared state once, before workers start: schema and signing secret.
    asyncio.run(_prepare(settings))
    options = dict(
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        loop="uvloop",
        # httptools, with the fast path for tracking requests (edge/serving/uvicorn_internals.py;
        # uvicorn's own httptools protocol if the installed uvicorn lacks what it needs).
        http=uvicorn_internals.http_protocol(),
        lifespan="on",
        access_log=False,
        server_header=False,
        # The client address is ours to take from X-Forwarded-For, and only from proxies
        # the operator trusts; uvicorn's default would trust any loopback peer.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    if args.https_port is not None:
        if args.https_port == port:
            raise CLIError("--https-port must differ from --port")
        if settings.tls_mode == "external":
            raise CLIError("--https-port serves built-in TLS; EDGE_TLS=external turns it off")
        try:
            uvicorn_internals.require_listeners()
        except uvicorn_internals.UnsupportedUvicorn as exc:
            raise CLIError(str(exc)) from None
    # The workers only append events to the spool; one process of its own stores them
    # (edge/ingester.py), unless EDGE_INGESTER=inline asks the workers to.
    ingester = None
    if settings.ingester == "separate" or "EDGE_INGESTER" not in os.environ:
        os.environ["EDGE_INGESTER"] = "separate"  # read by every worker's Settings
        ingester = IngesterProcess()
        ingester.start()
    # uvicorn re-raises the signal that stopped it once it has shut down: caught here, so
    # the ingester is stopped (and stores the rest of the spool) before the process ends.
    caught: list[int] = []

    def stop_by_signal(signum: int, frame: object) -> None:
        caught.append(signum)
        raise _Stopped

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop_by_signal)
    try:
        if args.https_port is None:
            uvicorn.run("admin.server:create_app", **options)
        else:
            uvicorn_internals.run_listeners(
                uvicorn_internals.ListenersConfig(
                    "admin.server:create_app", https_port=args.https_port, **options
                )
            )
    except _Stopped:
        pass
    finally:
        if ingester is not None:
            # A second signal must not cut short the ingester storing the last events.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            ingester.stop()
    for signum in caught:  # end as the signal would have ended us
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
    return 0


def _check_listen(host: str, port: int) -> None:
    """Refuse, in one line, an address uvicorn could not listen on (it would log the error
    amid its start-up lines and exit with status 3). The socket is closed at once."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CLIError(f"cannot listen on {host}:{port}: {reason}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    run_ingester(Settings.from_env(), once=args.once)
    return 0


async def _prepare(settings: Settings) -> None:
    """The schema and the signing secret, once, before the workers start. A node with copies
    of what it serves starts without its database (edge/serving/snapshot.py): the workers
    then serve from them, and the first of them to reach the database prepares it."""
    try:
        async with store_for(settings) as store:
            await signing_keys(settings, store)
    except StoreUnavailable as exc:
        saved = snapshot(settings, DomainTable.snapshot_name)
        if saved is None or saved.saved_at is None:
            raise
        print(
            f"tracking-edge: warning: {exc}; serving from the copies saved in "
            f"{saved.directory} until the database answers",
            file=sys.stderr,
        )


async def host_for(
    settings: Settings, domain: str | None, db: Repositories
) -> tuple[TrackingHost, int]:
    """The tracking host to link to and the account to sign for."""
    name = normalise_host(domain) if domain else settings.default_domain
    if not name:
        raise CLIError(f"invalid domain: {domain!r}")
    if name == settings.default_domain:
        host = TrackingHost(name, None, settings.default_secure, True)
        return host, BUILTIN_ACCOUNT_ID
    claims = await db.domains.named(name)  # the owner's row first, if any account owns it
    if not claims:
        raise CLIError(f"unknown tracking domain: {name}")
    found = claims[0]
    if not found.served:
        raise CLIError(f"tracking domain {name} is not verified or is blocked")
    return TrackingHost(name, found.account_id, found.secure, True, found.id), found.account_id


async def _wrap_host(
    settings: Settings, domain: str | None
) -> tuple[TrackingHost, int, list[str]]:
    """The host and account to sign for, and the keys to sign with."""
    async with store_for(settings) as store:
        keys = await signing_keys(settings, store)
        async with store.reading() as db:
            return (*await host_for(settings, domain, db), keys)


def cmd_wrap(args: argparse.Namespace) -> int:
    if not args.open and not args.url:
        raise CLIError("a URL is needed (or --open for the pixel URL)")
    for value, option in ((args.url, "the URL"), (args.domain, "--domain"),
                          (args.message, "--message"), (args.recipient, "--recipient"),
                          (args.link, "--link")):  # fmt: skip
        require_text(value, option)
    settings = Settings.from_env()
    host, account, keys = asyncio.run(_wrap_host(settings, args.domain))
    links = LinkBuilder(
        TokenCodec(keys),
        settings.public_http_port,
        settings.public_https_port,
    )
    if args.open:
        print(links.open_url(host, account, message=args.message, recipient=args.recipient))
    else:
        print(
            links.click_url(
                host,
                account,
                args.url,
                message=args.message,
                recipient=args.recipient,
                link=args.link,
            )
        )
    return 0


def parse_since(value: str) -> int:
    """Milliseconds since the epoch for an ISO 8601 date or time (UTC when no zone is given)."""
    try:
        return parse_iso_ms(value)
    except ValueError:
        raise CLIError(f"--since: not an ISO 8601 time: {value!r}") from None


def cmd_events(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    since = parse_since(args.since) if args.since else None
    types = {"open": ("open", "initial_open"), "click": ("click",)}.get(args.type, ())

    async def dump() -> None:
        # The events API's pages and JSON (admin/engagement/events_api.py), every account's.
        from admin.engagement.rendering import event_json

        query = EventFilter(None, start_ms=since, types=types)
        async with store_for(settings) as store, store.reading() as db:
            async for events in db.events.pages(query, page=1000):
                for event in events:
                    line = {**event_json(event), "account_id": event.account_id}
                    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")

    asyncio.run(dump())
    return 0
