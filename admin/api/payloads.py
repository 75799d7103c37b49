"""Reading JSON request bodies, with the admin API's errors for what does not fit.

Every admin route that takes a body reads it through :func:`json_object`, so a body that is
too large (413), not JSON, nested too deeply, not an object, or has a field of the wrong type
is refused the same way everywhere (1300 / ``invalid_json`` or ``invalid_data``, naming the
field), never a 500. Fields a route does not know are ignored, as SparkPost ignores them.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from admin.api.errors import InvalidData, MalformedBody, PayloadTooLarge

#: Largest request body accepted: an email part is well under this (Gmail clips at 102 KB).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Largest id: ids are SQLite integer primary keys, signed 64-bit.
MAX_ID = 2**63 - 1


def is_id(value: int) -> bool:
    """Whether ``value`` can name a row (path ids and id fields alike)."""
    return 1 <= value <= MAX_ID


async def read_body(request: Request) -> bytes:
    """The body, refusing one over :data:`MAX_BODY_BYTES` with :class:`PayloadTooLarge`.

    Counted on the bytes received, not only on ``Content-Length``: a chunked body declares
    no length, and nothing over the limit is buffered.
    """
    too_large = PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(request: Request) -> dict:
    """The body as a JSON object; an empty body is an empty object."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
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


def optional_bool(body: dict, field: str) -> bool | None:
    value = body.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidData(f"field '{field}' must be a boolean", field=field)


def optional_id(body: dict, field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    # bool is an int in Python, and never an id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidData(f"field '{field}' must be an integer or null", field=field)
    if not is_id(value):
        raise InvalidData(f"field '{field}' must be an id from 1 to {MAX_ID}", field=field)
    return value
