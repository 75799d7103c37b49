"""The OpenAPI 3.1 document of both dialects, generated from the app's routes.

Walks the routes as Starlette's schema generator does (``BaseSchemaGenerator.get_endpoints``:
every method of every ``HTTPEndpoint``, every function route) and turns each handler's
:class:`~admin.api.contracts.Operation` into an operation object. Schemas are msgspec's JSON
Schema (2020-12, which OpenAPI 3.1 takes as it is) of the declared models; error answers get
the schema of their path's dialect. A route without a declared operation is a programming
error: generation refuses it.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, TypeAlias

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.schemas import BaseSchemaGenerator

from admin.api.bodies import decode_body
from admin.api.contracts import ENVELOPES, META, Operation, json_response, operation_of
from admin.api.errors import CUSTOMER_PREFIX, AdminError, CustomerError, SparkPostErrors
from admin.api.queries import absence, can_refuse
from edge import __version__

#: A JSON object of the document (a schema, an operation, a parameter...).
JsonObject: TypeAlias = dict[str, Any]

REF = "#/components/schemas/{name}"
DESCRIPTION = (
    "Tracking domains in two dialects over one service: SparkPost (keyed by name, errors as "
    "{errors: [{code, message, description}]}) and Mailerlogic (keyed by id, answers as {data}, "
    "errors as {error: {status, code, message, field}}). Authenticate with "
    "'Authorization: <key>' or 'Authorization: Bearer <key>'."
)


def operations(routes: list[BaseRoute]) -> list[tuple[str, str, Operation]]:
    """(path, method, operation) of every route, in route order."""
    found = []
    for endpoint in BaseSchemaGenerator().get_endpoints(routes):
        op = operation_of(endpoint.func)
        if op is None:
            raise TypeError(f"{endpoint.http_method.upper()} {endpoint.path}: no operation")
        found.append((endpoint.path, endpoint.http_method, op))
    return found


def document(routes: list[BaseRoute]) -> JsonObject:
    """The OpenAPI document of ``routes``."""
    ops = operations(routes)
    schemas = _Schemas(_models(ops), {op.query for _, _, op in ops if op.query is not None})
    paths: dict[str, JsonObject] = {}
    for path, method, op in ops:
        paths.setdefault(path, {})[method] = _operation(path, op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tracking-edge admin API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "security": [{"apiKey": []}],
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "paths": paths,
    }


def _operation(path: str, op: Operation, schemas: _Schemas) -> JsonObject:
    item: JsonObject = {"tags": list(op.tags), "summary": op.summary}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schemas.of(kind)}
        for name, kind in op.path.items()
    ]
    if op.query is not None:
        parameters += schemas.parameters(op.query)
    if parameters:
        item["parameters"] = parameters
    if op.body is not None:
        item["requestBody"] = {
            "required": _body_required(op.body),
            "content": {"application/json": {"schema": schemas.of(op.body)}},
        }
    success: JsonObject = {"description": HTTPStatus(op.status).phrase}
    if op.answer is not None:
        success["content"] = {"application/json": {"schema": schemas.of(op.answer)}}
    elif op.content is not None:
        success["content"] = {m: {"schema": schemas.of(k)} for m, k in op.content.items()}
    errors = CustomerError if path.startswith(CUSTOMER_PREFIX) else SparkPostErrors
    item["responses"] = {
        str(op.status): success,
        **{
            str(status): {
                "description": HTTPStatus(status).phrase,
                "content": {m: {"schema": schemas.of(k)} for m, k in content.items()},
            }
            for status, content in op.responses.items()
        },
        **{
            str(status): {
                "description": HTTPStatus(status).phrase,
                "content": {"application/json": {"schema": schemas.of(errors)}},
            }
            for status in sorted(_error_statuses(op))
        },
    }
    if op.auth is None:
        item["security"] = []
    return item


def _body_required(model: type[msgspec.Struct]) -> bool:
    """An empty body is read as ``{}``: one is needed when ``{}`` is refused (a field is
    required, or the model's own check asks for one of several)."""
    try:
        decode_body(b"", model)
    except AdminError:
        return True
    return False


def _error_statuses(op: Operation) -> set[int]:
    """The declared errors and those the declaration implies."""
    statuses = set(op.errors)
    if op.auth is not None:
        # Authenticating reads the database, which may be down or busy (admin/app.py).
        statuses |= {401, 503}
    if op.body is not None:
        statuses |= {400, 413, 422}
    if op.query is not None and can_refuse(op.query):
        statuses.add(422)
    if any(kind is not str for kind in op.path.values()):
        statuses.add(404)
    return statuses


def _models(ops: list[tuple[str, str, Operation]]) -> Iterable[Any]:
    yield SparkPostErrors
    yield CustomerError
    for _, _, op in ops:
        yield from op.path.values()
        yield from (k for k in (op.body, op.query, op.answer) if k is not None)
        yield from (op.content or {}).values()
        for content in op.responses.values():
            yield from content.values()


class _Schemas:
    """JSON Schemas of every model in one pass, shared definitions in ``components``."""

    def __init__(self, models: Iterable[Any], queries: set[type]) -> None:
        kinds = list(dict.fromkeys(_unwrap(m) for m in models))
        found, self.components = msgspec.json.schema_components(kinds, ref_template=REF)
        self.schemas = dict(zip(kinds, found, strict=True))
        for kind in kinds:  # what a model's own check requires, beyond its fields' types
            extra = getattr(kind, "schema_extra", None)
            if extra is not None:
                self.components[_name(self.schemas[kind])].update(extra)
        # Query models become parameters, not components.
        self._queries: dict[type, JsonObject] = {
            q: self.components.pop(_name(self.schemas[q])) for q in queries
        }

    def of(self, kind: Any) -> JsonObject:
        key = typing.get_origin(kind) or kind
        if key in ENVELOPES:
            (inner,) = typing.get_args(kind)
            name = ENVELOPES[key]
            return {"type": "object", "required": [name], "properties": {name: self.of(inner)}}
        schema: JsonObject = self.schemas[kind]
        return schema

    def parameters(self, model: type) -> list[JsonObject]:
        schema = self._queries[model]
        required = set(schema.get("required", ()))
        absent = absence(model)
        return [
            _parameter(name, name in required, prop, absent[name])
            for name, prop in schema["properties"].items()
        ]


#: Keywords that say what a parameter is, not which values it takes.
_ANNOTATIONS = ("description", "default")


def _parameter(
    name: str, required: bool, schema: dict[str, Any], absent: dict[str, Any]
) -> dict[str, Any]:
    """A query parameter: absent rather than null, lists comma-separated (``explode: false``);
    an optional one may also be given empty (or blank, for a time), which reads as absent."""
    schema = dict(schema)
    if schema.get("default", 0) is None:
        del schema["default"]
    if {"type": "null"} in schema.get("anyOf", ()):  # X | None: None is the parameter's absence
        (option,) = (o for o in schema.pop("anyOf") if o != {"type": "null"})
        schema = {**option, **schema}
    values = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
    if not required and not _takes_empty(values):
        notes = {k: v for k, v in schema.items() if k in _ANNOTATIONS}
        schema = {"anyOf": [values, absent], **notes}
    parameter = {"name": name, "in": "query", "required": required, "schema": schema}
    if schema.get("type") == "array":
        parameter["explode"] = False
    return parameter


def _takes_empty(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` already takes an empty parameter: a string whose pattern (if any)
    matches "", or a list (written as "" when empty)."""
    if schema.get("type") == "array":
        return True
    return (
        schema.get("type") == "string"
        and set(schema) <= {"type", "pattern"}
        and re.search(schema.get("pattern", ""), "") is not None
    )


def _name(ref: JsonObject) -> str:
    target: str = ref["$ref"]
    return target.rsplit("/", 1)[1]


def _unwrap(kind: Any) -> Any:
    """The model inside an envelope (the envelope itself is written inline)."""
    if typing.get_origin(kind) in ENVELOPES:
        return _unwrap(typing.get_args(kind)[0])
    return kind


@META("This document", answer=dict[str, Any])
async def openapi_json(request: Request) -> Response:
    """Generated on first request, then kept: the routes do not change while serving."""
    state = request.app.state
    if getattr(state, "openapi", None) is None:
        state.openapi = json_response(document(request.app.routes)).body
    return Response(state.openapi, media_type="application/json")
