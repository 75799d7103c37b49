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
"message", "metadata"}}`` with ``links`` and ``warnings`` as in
:meth:`edge.rewrite.RewriteResult.to_dict`. Errors have SparkPost's shape (the path is not in
the Mailerlogic dialect): 400 body not a JSON object, 401 key, 404 tracking domain not in the
account, 413 body over :data:`admin.payloads.MAX_BODY_BYTES`, 422 missing content, a field of
the wrong type, ``message``/``recipient`` over :data:`MAX_REFERENCE_LENGTH` characters, more
links than :attr:`edge.rewrite.Rewriter.max_links` in a part, metadata that cannot be echoed
as JSON, a blank tracking domain, or one that is not verified or is blocked.

``message`` and ``recipient`` are copied into every token, so their length is capped: an
uncapped one turns a 100 KB request into megabytes of tokens held by the process that also
serves redirects. The rewrite and the encoding of its (large) answer run in a worker thread:
a large email takes milliseconds of CPU, and the event loop also serves click redirects.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.api.errors import InvalidData, MissingField
from admin.api.payloads import json_object, optional_bool
from admin.domains.service import require_served
from edge.hosts import normalise_host
from edge.model.accounts import Account
from edge.model.domains import TrackingHost
from edge.rewrite.rewriter import (
    WARNING_CODES,
    Rewriter,
    SkipReason,
    TooManyLinks,
    is_unicode_text,
    served_hosts,
)
from edge.serving.server import Runtime
from edge.tokens.links import LinkBuilder

PATH = "/api/v1/rewrite"
#: Longest ``message`` or ``recipient`` reference, in characters: both go into every token.
MAX_REFERENCE_LENGTH = 256


def _text(body: dict, field: str, max_length: int | None = None) -> str | None:
    """An optional string field; lone surrogates (valid JSON, not Unicode) are refused."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidData(f"field '{field}' must be a string", field=field)
    if not is_unicode_text(value):
        raise InvalidData(f"field '{field}' is not valid Unicode text", field=field)
    if max_length is not None and len(value) > max_length:
        raise InvalidData(f"field '{field}' is longer than {max_length} characters", field=field)
    return value


def _metadata(body: dict) -> dict | None:
    """The metadata object, refused unless it can be echoed back as strict JSON."""
    metadata = body.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise InvalidData("field 'metadata' must be an object", field="metadata")
    try:
        # NaN, Infinity and 1e400 (a float overflowing to inf) are not JSON (RFC 8259 §6)
        # and a lone surrogate is not UTF-8: either would fail when the answer is encoded.
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        raise InvalidData(
            "field 'metadata' holds a non-finite number or text that is not valid Unicode",
            field="metadata",
        ) from None
    return metadata


async def _host(request: Request, account: Account, body: dict) -> TrackingHost:
    """The tracking host named in the body, else the sender's or the account's, else ours."""
    runtime: Runtime = request.app.state.runtime
    services = request.app.state.services
    default = runtime.domains.default
    named = _text(body, "tracking_domain")
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
        domain = await services.sending.tracking_domain_for(account, _text(body, "sender"))
        if domain is None:
            return default
    return TrackingHost(domain.domain, domain.account_id, domain.secure, True, domain.id)


async def rewrite(request: Request) -> Response:
    account = await authenticate(request)
    body = await json_object(request)
    html, text = _text(body, "html"), _text(body, "text")
    if html is None and text is None:
        raise MissingField("html")
    message = _text(body, "message", MAX_REFERENCE_LENGTH)
    recipient = _text(body, "recipient", MAX_REFERENCE_LENGTH)
    metadata = _metadata(body)
    options: dict[str, Any] = {
        name: value
        for name in ("track_clicks", "track_opens", "initial_open", "honeypot")
        if (value := optional_bool(body, name)) is not None
    }
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
    extra = {"tracking_domain": host.domain, "message": message, "metadata": metadata}

    def answer() -> bytes:
        result = rewriter.rewrite(html, text, message=message, recipient=recipient, **options)
        # Encoded here, in the worker thread: the answer of a large email is megabytes.
        # Same bytes as Starlette's JSONResponse; metadata was checked to encode.
        return json.dumps(
            {"results": result.to_dict() | extra},
            ensure_ascii=False,
            allow_nan=False,
            indent=None,
            separators=(",", ":"),
        ).encode("utf-8")

    try:
        content = await run_in_threadpool(answer)
    except TooManyLinks as exc:
        raise InvalidData(str(exc), field=exc.part) from None
    return Response(content, media_type="application/json")


routes = [Route(PATH, rewrite, methods=["POST"])]


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


_LINK = {
    "type": "object",
    "required": ["part", "name", "url", "wrapped", "reason", "unsubscribe", "tracking_url"],
    "properties": {
        "part": {"enum": ["html", "text"]},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "wrapped": {"type": "boolean"},
        "reason": {"enum": [None, *(reason.value for reason in SkipReason)]},
        "unsubscribe": {"type": "boolean"},
        "tracking_url": _nullable("string"),
        "tag": _nullable("string"),
        "raw": {"type": "string"},
        "offset": {"type": "integer"},
    },
}
_WARNING = {
    "type": "object",
    "required": ["code", "message", "part"],
    "properties": {
        "code": {"enum": list(WARNING_CODES)},
        "message": {"type": "string"},
        "part": {"enum": ["html", "text"]},
        "offset": _nullable("integer"),
    },
}
_ERRORS = {"$ref": "#/components/schemas/SparkPostErrors"}
_REQUEST = {
    "type": "object",
    "properties": {
        "html": {"type": "string", "description": "the HTML part"},
        "text": {"type": "string", "description": "the plain-text part"},
        "tracking_domain": {
            "type": "string",
            "description": "a verified tracking domain of the account (or the edge's default)",
        },
        "sender": {
            "type": "string",
            "description": "sending domain or From address: its assigned tracking domain",
        },
        "message": {
            "type": "string",
            "maxLength": MAX_REFERENCE_LENGTH,
            "description": "message reference put into tokens",
        },
        "recipient": {
            "type": "string",
            "maxLength": MAX_REFERENCE_LENGTH,
            "description": "recipient reference (addresses hashed)",
        },
        "metadata": {"type": "object", "description": "echoed back, not put into tokens"},
        "track_clicks": {"type": "boolean", "default": True},
        "track_opens": {"type": "boolean", "default": True},
        "initial_open": {"type": "boolean", "default": False},
        "honeypot": {"type": "boolean", "default": False},
    },
}
_RESULTS = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "object",
            "required": ["html", "text", "links", "warnings", "tracking_domain"],
            "properties": {
                "html": _nullable("string"),
                "text": _nullable("string"),
                "links": {"type": "array", "items": _LINK},
                "warnings": {"type": "array", "items": _WARNING},
                "tracking_domain": {"type": "string"},
                "message": _nullable("string"),
                "metadata": _nullable("object"),
            },
        }
    },
}


def _response(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


#: Added to ``/api/v1/openapi.json`` by ``create_admin_app``.
OPENAPI_PATHS = {
    PATH: {
        "post": {
            "tags": ["Rewrite"],
            "summary": "Wrap the links of an email in tracked URLs and add the open pixel",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _REQUEST}},
            },
            "responses": {
                "200": _response("The rewritten email and its link report", _RESULTS),
                **{
                    str(status): _response("SparkPost error", _ERRORS)
                    for status in (400, 401, 404, 413, 422)
                },
            },
        }
    }
}
