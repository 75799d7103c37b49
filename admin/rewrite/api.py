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
from admin.rewrite.contracts import RewriteRequest, Rewritten
from admin.rewrite.service import allowed_options, tracking_host
from admin.rewrite.service import rewriter as rewriter_for
from edge.model.accounts import Account
from edge.rewrite.rewriter import TooManyLinks
from edge.serving.server import Runtime

PATH = "/api/v1/rewrite"

op = Operations("Rewrite", auth=authenticate)


class Rewrite(HTTPEndpoint):
    @op("Wrap the links of an email in tracked URLs and add the open pixel", errors=(404,),
        answer=Results[Rewritten])  # fmt: skip
    async def post(self, request: Request, account: Account, body: RewriteRequest) -> Response:
        runtime: Runtime = request.app.state.runtime
        services = request.app.state.services
        options = await allowed_options(services.store, account, body.options())
        host = await tracking_host(
            runtime,
            services.domains,
            services.sending,
            account,
            tracking_domain=body.tracking_domain,
            sender=body.sender,
        )
        rewriter = rewriter_for(runtime, host, account)

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
