"""JSON request bodies, read into a contract's model with the admin API's errors.

Every admin route that takes a body reads it here, so a body that is too large (413), not
JSON, nested too deeply, not an object, or has a field that does not fit is refused the same
way everywhere (1300 / ``invalid_json`` or ``invalid_data``, naming the field), never a 500.
Fields a model does not declare are ignored, as SparkPost ignores them; an empty body is an
empty object.

A body that fits is decoded and validated by msgspec in one pass. One that does not is read
again with :func:`json.loads` to say what is wrong in the API's words: which field, with the
field's declared :class:`~admin.api.fields.Messages` (the API has always accepted what
``json.loads`` accepts, such as ``NaN`` in a field nobody reads).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from admin.api.errors import (
    AdminError,
    InvalidData,
    MalformedBody,
    MissingField,
    PayloadTooLarge,
)
from admin.api.fields import FieldSpec, fields_of, fits
from edge.rewrite.rewriter import is_unicode_text

#: Largest request body accepted: an email part is well under this (Gmail clips at 102 KB).
MAX_BODY_BYTES = 10 * 1024 * 1024

Model = TypeVar("Model", bound=msgspec.Struct)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing one over ``limit`` bytes with :class:`PayloadTooLarge`.

    Counted on the bytes received, not only on ``Content-Length``: a chunked body declares
    no length, and nothing over the limit is buffered.
    """
    too_large = PayloadTooLarge(f"the request body is over {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(raw: bytes, model: type[Model]) -> Model:
    """``raw`` as a ``model``, or the :class:`~admin.api.errors.AdminError` saying why not."""
    if not raw.strip():
        raw = b"{}"
    try:
        decoded = msgspec.json.decode(raw, type=model)
    except (msgspec.DecodeError, RecursionError, AdminError):
        # (A model's own check may refuse it before msgspec has read to the end.)
        pass
    else:
        for field in fields_of(model):
            _run_checks(field, getattr(decoded, field.name))
        return decoded
    body = _json_object(raw)
    fields = fields_of(model)
    for field in fields:
        if isinstance(body.get(field.wire), float):
            body[field.wire] = _integral(raw, field, body[field.wire])
        _check(field, body)
    # Every field fits (body fields are JSON's types: nothing to convert). Made directly, not
    # by msgspec, which cannot take the lone surrogates an object field may hold; what is left
    # is the model's own check (``__post_init__``).
    return model(**{f.name: body[f.wire] for f in fields if f.wire in body})


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("The request body is not valid JSON.") from None
    except RecursionError:
        # ``"[" * 100000``: the decoder recurses once per level and hits Python's limit.
        raise MalformedBody("The request body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise MalformedBody("The request body must be a JSON object.")
    return body


def _integral(raw: bytes, field: FieldSpec, value: float) -> int | float:
    """An integer written with a fraction or exponent (``5.0``, ``5e0``), for a field that takes
    an integer: JSON Schema's integer is a number's value, not how it is written. Read from
    the text, not the float, so that no digit past 2**53 is lost."""
    if not value.is_integer() or abs(value) > 2**64 or not fits(int(value), field.plain):
        return value
    literal = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])[field.wire]
    return int(Decimal(bytes(literal).decode()))


def _check(field: FieldSpec, body: dict[str, Any]) -> None:
    """Raise the error for ``field`` of ``body`` if it does not fit."""
    if field.wire not in body:
        if field.required:
            raise _missing(field)
        return
    value = body[field.wire]
    if value is None and field.required and not fits(None, field.type):
        raise _missing(field)  # null for a required field that takes none: not given
    messages = field.messages
    assert messages is not None  # required of body models by Operations
    if not fits(value, field.plain):
        raise InvalidData(messages.wrong.format(field=field.wire), field=field.wire)
    _run_checks(field, value)
    # Valid JSON, not Unicode: "\ud800" cannot be stored, signed into a token or sent back.
    texts = [t for t in (value if isinstance(value, list) else [value]) if isinstance(t, str)]
    if not all(is_unicode_text(t) for t in texts):
        raise InvalidData(f"field '{field.wire}' is not valid Unicode text", field=field.wire)
    if not fits(value, field.type):
        # Text the store keeps holds no NUL (admin.api.contracts.Text): say so, not the bounds.
        nul = "text\x00"
        if any("\x00" in t for t in texts) and not fits(
            [nul] if isinstance(value, list) else nul, field.type
        ):
            raise InvalidData(f"field '{field.wire}' holds a NUL character", field=field.wire)
        text = messages.bounds or messages.wrong
        raise InvalidData(text.format(field=field.wire), field=field.wire)


def _missing(field: FieldSpec) -> AdminError:
    if field.messages is not None and field.messages.missing is not None:
        return InvalidData(field.messages.missing, field=field.wire)
    return MissingField(field.wire)


def _run_checks(field: FieldSpec, value: object) -> None:
    if value is None or value is msgspec.UNSET:
        return
    for check in field.checks:
        try:
            check.rule(value)
        except ValueError as exc:
            raise InvalidData(str(exc), field=field.wire) from None
