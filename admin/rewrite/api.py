"""``POST /api/v1/rewrite``: the rewriter over HTTP, on the admin host, with an API key.

Request (JSON object; every field optional, but ``html`` or ``text`` is needed)::

    {"html": "<html>…", "text": "…",
     "tracking_domain": "click.brand.com",   # else the sender's, else the account default,
     "sender": "news@brand.com",             #   else the edge's default domain
     "message": "msg-123", "recipient": "ref-or-address",
     "metadata": {…},                        # echoed back, never put into tokens
     "track_clicks": true, "track_opens": true, "initial_open": false, "honeypot": false}

An account whose settings turn click or open tracking off (``account_settings``) gets its
links or pixel left out whatever the request says.

Response ``200``: ``{"results": {"html", "text", "links", "warnings", "tracking_domain",
"message", "metadata"}}`` with ``links`` and ``warnings`` the rewriter's reports (models in
:mod:`admin.rewrite.contracts`). Errors have SparkPost's shape (the path is not in the
Mailerlogic dialect): 400 body not a JSON object, 401 key, 404 tracking domain not in the
account, 413 body over :data:`admin.api.bodies.MAX_BODY_BYTES`, 422 missing content, a field of
the wrong type, ``message``/``recipient`` over
:data:`~admin.rewrite.contracts.MAX_REFERENCE_LENGTH` characters, more links than
:attr:`edge.rewrite.Rewriter.max_links` in a part, metadata that cannot be echoed as JSON, a
blank tracking domain, or one that is not verified or is blocked.

``message`` and ``recipient`` are copied into every token, so their length is capped: an
uncapped one turns a 100 KB request into megabytes of tokens held by the process that also
serves redirects. The rewrite and the encoding of its (large) answer run in a worker thread:
a large email takes milliseconds of CPU, and the event loop also serves click redirects.
"""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.api.contracts import Operations, Results
from admin.api.errors import InvalidData
from admin.domains.service import require_served
from admin.rewrite.contracts import RewriteRequest, Rewritten
from edge.hosts import normalise_host
from edge.model.accounts import Account
from edge.model.domains import TrackingHost
from edge.rewrite.rewriter import Rewriter, TooManyLinks, served_hosts
from edge.serving.server import Runtime
from edge.tokens.links import LinkBuilder

PATH = "/api/v1/rewrite"

op = Operations("Rewrite", auth=authenticate)


async def _host(request: Request, account: Account, body: RewriteRequest) -> TrackingHost:
    """The tracking host named in the body, else the sender's or the account's, else ours."""
    runtime: Runtime = request.app.state.runtime
    services = request.app.state.services
    default = runtime.domains.default
    named = body.tracking_domain
    if named is not None:
        name = normalise_host(named)
        if name is None:  # blank or not a host name: nothing to look up
            raise InvalidData(
                f"field 'tracking_domain' is not a domain name: {named!r}",
                field="tracking_domain",
            )
        if name == default.domain:
            return default
        domain = await services.domains.get(account, named)  # NotFound outside the account
        require_served(domain)
    else:
        domain = await services.sending.tracking_domain_for(account, body.sender)
        if domain is None:
            return default
    return TrackingHost(domain.domain, domain.account_id, domain.secure, True, domain.id)


class Rewrite(HTTPEndpoint):
    @op("Wrap the links of an email in tracked URLs and add the open pixel", errors=(404,),
        answer=Results[Rewritten])  # fmt: skip
    async def post(self, request: Request, account: Account, body: RewriteRequest) -> Response:
        options = body.options()
        # The account's switches (migration 0005) win: a request can turn tracking off, not on.
        async with request.app.state.services.store.reading() as db:
            switches = await db.privacy.get(account.id)
        if not switches.track_clicks:
            options["track_clicks"] = False
        if not switches.track_opens:
            options["track_opens"] = False
        host = await _host(request, account, body)

        runtime: Runtime = request.app.state.runtime
        settings = runtime.settings
        links = LinkBuilder(runtime.codec, settings.public_http_port, settings.public_https_port)
        rewriter = Rewriter(links, host, account.id, tracking_hosts=served_hosts(runtime.domains))

        def answer() -> bytes:
            result = rewriter.rewrite(
                body.html, body.text, message=body.message, recipient=body.recipient, **options
            )
            # Encoded here, in the worker thread: the answer of a large email is megabytes.
            rewritten = Rewritten(
                result.html,
                result.text,
                result.links,
                result.warnings,
                host.domain,
                body.message,
                body.metadata,
            )
            return msgspec.json.encode(Results(rewritten))

        try:
            content = await run_in_threadpool(answer)
        except TooManyLinks as exc:
            raise InvalidData(str(exc), field=exc.part) from None
        return Response(content, media_type="application/json")


routes = [Route(PATH, Rewrite)]
