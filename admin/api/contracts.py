"""API contracts: how a route declares its operation, once, for the server and the document.

Each capability declares its request and response models (``msgspec.Struct``) in its own
``contracts`` module and its routes as Starlette ``HTTPEndpoint`` classes, one per path, whose
methods are operations::

    op = Operations("SparkPost tracking domains", auth=authenticate)

    class TrackingDomains(HTTPEndpoint):
        @op("Create a tracking domain", errors=(409,))
        async def post(self, request: Request, account: Account, body: Create) -> Results[Name]:
            ...
            return Results(Name(created.domain))

The handler's signature is the contract: ``account`` is who :attr:`Operations.auth` says is
calling; ``body`` is the JSON body read into its annotated model (:mod:`admin.api.bodies`);
``query`` the query string (:mod:`admin.api.queries`); any other parameter is the path
parameter of that name (``str``, or :data:`RowId`: 404 when it names no row). They are read in
that order, so a request without a key is refused before its body is looked at. The return
annotation is the answer's model; a returned model is encoded as JSON with the operation's
status, ``None`` is an empty answer, and a :class:`~starlette.responses.Response` is sent as
it is. :mod:`admin.api.openapi` builds the OpenAPI document from the same declarations; a
model whose own check (``__post_init__``) asks more than its fields' types do says so in a
``schema_extra: ClassVar[dict]``, JSON Schema added to its component, so the document never
promises what the server refuses.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, TypeAlias, TypeVar

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from admin.api.bodies import decode_body, read_body
from admin.api.errors import InvalidData
from admin.api.fields import NO_NUL, fields_of
from admin.api.queries import parse_path, parse_query

#: Largest id: ids are SQLite integer primary keys, signed 64-bit.
MAX_ID = 2**63 - 1
#: A row id, in a path or a field.
RowId = Annotated[int, Meta(ge=1, le=MAX_ID)]
#: Text the store keeps or searches for (a reference, a label, a filter): no NUL, which
#: PostgreSQL's text cannot hold and no reference means. In a path, text with one names nothing
#: (404); in a query or a body it is refused (422).
Text = Annotated[str, Meta(pattern=NO_NUL)]
#: A time as the API shows it: ISO 8601, UTC, whole seconds (``2026-11-02T10:00:00Z``).
Time = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
#: A time as the API reads it in a query string: ISO 8601, or a date meaning midnight; UTC
#: when no offset is given. The document names the two forms JSON Schema has words for (RFC
#: 3339's date-time and full-date); other ISO 8601 forms Python reads are taken too.
Instant = Annotated[
    datetime, Meta(extra_json_schema={"anyOf": [{"format": "date-time"}, {"format": "date"}]})
]

T = TypeVar("T")


def one_of(*values: str | int) -> Meta:
    """The values an answer's field takes, for the document (an answer is not validated)."""
    return Meta(extra_json_schema={"enum": list(values)})


class Results(msgspec.Struct, Generic[T]):
    """The SparkPost dialect's answer: ``{"results": ...}``."""

    results: T


class Data(msgspec.Struct, Generic[T]):
    """The Mailerlogic dialect's answer: ``{"data": ...}``."""

    data: T


#: Envelopes the document shows inline, with the model inside as a reference.
ENVELOPES: dict[type, str] = {Results: "results", Data: "data"}

Authenticate = Callable[[Request], Awaitable[Any]]
#: A handler as written: the request last of its positional arguments, then its inputs by
#: name; it answers a model, a ``Response`` or ``None``.
Handler: TypeAlias = Callable[..., Awaitable[Any]]
#: What :class:`Operations` makes of a handler: an endpoint answering a ``Response``.
Endpoint: TypeAlias = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """One method of one path, as the handler's signature and decorator declare it."""

    summary: str
    tags: tuple[str, ...]
    #: The success status and the answer's model (``None``: no content, or ``content``).
    status: int
    answer: Any
    #: Non-JSON success content: media type → model of the text.
    content: Mapping[str, Any] | None
    #: Answers other than success and the dialect's errors: status → media type → model.
    responses: Mapping[int, Mapping[str, Any]]
    #: Error statuses beyond those the declaration implies (401, 400/413/422, 404).
    errors: tuple[int, ...]
    auth: Authenticate | None
    body: type[msgspec.Struct] | None = None
    query: type[msgspec.Struct] | None = None
    path: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Operations:
    """The operations of one capability: their tag and how callers are authenticated."""

    tag: str
    auth: Authenticate | None = None

    def __call__(
        self,
        summary: str,
        *,
        status: int = 200,
        errors: tuple[int, ...] = (),
        answer: Any = None,
        content: Mapping[str, Any] | None = None,
        responses: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> Callable[[Handler], Endpoint]:
        def declare(handler: Handler) -> Endpoint:
            hints = typing.get_type_hints(handler, include_extras=True)
            params = [p for p in inspect.signature(handler).parameters if p != "self"][1:]
            returned = hints.get("return")
            is_model = returned not in (None, type(None)) and not _is_response(returned)
            op = Operation(
                summary,
                (self.tag,),
                status,
                answer if answer is not None else returned if is_model else None,
                content,
                responses or {},
                errors,
                self.auth,
                hints["body"] if "body" in params else None,
                hints["query"] if "query" in params else None,
                {p: hints[p] for p in params if p not in ("account", "body", "query")},
            )
            if op.body is not None:
                undeclared = [f.name for f in fields_of(op.body) if f.messages is None]
                if undeclared:
                    raise TypeError(f"{op.body.__name__}: no Messages for {undeclared}")
            return _bind(handler, op)

        return declare


#: Operations of the API itself: health, this document, the TLS ``ask``. Public.
META = Operations("Meta")


def _is_response(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Response)


def operation_of(func: Callable[..., Any]) -> Operation | None:
    return getattr(func, "operation", None)


def _bind(handler: Handler, op: Operation) -> Endpoint:
    @functools.wraps(handler)
    async def run(*args: Any) -> Response:
        request: Request = args[-1]
        inputs: dict[str, Any] = {}
        wrong: InvalidData | None = None
        if op.auth is not None:
            inputs["account"] = await op.auth(request)
        if op.body is not None:
            try:
                inputs["body"] = decode_body(await read_body(request), op.body)
            except InvalidData as exc:
                # The order refusals have always come in: a malformed body or a missing field,
                # then a path that names nothing (404), then a field of the wrong type.
                if not op.path:
                    raise
                wrong = exc
        if op.query is not None:
            inputs["query"] = parse_query(request.query_params, op.query)
        for name, kind in op.path.items():
            inputs[name] = parse_path(request.path_params[name], kind)
        if wrong is not None:
            raise wrong
        result = await handler(*args, **inputs)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=op.status)
        return json_response(result, op.status)

    # Read by operation_of(), through bound methods too; a function's own attribute has no
    # static type.
    run.operation = op  # type: ignore[attr-defined]
    return run


def json_response(model: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(model), status, media_type="application/json")
