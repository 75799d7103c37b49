"""Reading JSON request bodies, with the admin API's errors for what does not fit.

Both dialects read their bodies through these, so a body that is not JSON, not an object, or
has a field of the wrong type is refused the same way everywhere (1300 / ``invalid_json`` or
``invalid_data``, naming the field), never a 500. Fields a route does not know are ignored,
as SparkPost ignores them.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from admin.errors import InvalidData, MalformedBody


async def json_object(request: Request) -> dict:
    """The body as a JSON object; an empty body is an empty object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("The request body is not valid JSON.") from None
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
    # bool is an int in Python, and never an id.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise InvalidData(f"field '{field}' must be an integer or null", field=field)
