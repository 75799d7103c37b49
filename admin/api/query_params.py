"""Query-string parameters of the engagement API, refused with the admin API's errors.

Times are ISO 8601 (``2026-11-02T10:00:00Z``, an offset, or a bare date meaning midnight UTC);
a time without an offset is UTC. Booleans are ``true``/``false`` (or 1/0).
"""

from __future__ import annotations

from starlette.requests import Request

from admin.api.errors import InvalidData, MissingField
from admin.api.timestamps import parse_iso_ms


def time_ms(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        if required:
            raise MissingField(name)
        return None
    try:
        return parse_iso_ms(raw)
    except ValueError:
        raise InvalidData(
            f"'{name}' must be an ISO 8601 time such as 2026-11-02T10:00:00Z", field=name
        ) from None


def boolean(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidData(f"'{name}' must be true or false", field=name)


def integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidData(f"'{name}' must be an integer", field=name) from None
    if not low <= value <= high:
        raise InvalidData(f"'{name}' must be between {low} and {high}", field=name)
    return value


def text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return raw if raw else None


def choices(request: Request, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of values from ``allowed`` (empty: none given)."""
    raw = request.query_params.get(name)
    if not raw:
        return ()
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise InvalidData(
            f"'{name}' must be among {', '.join(allowed)}; got {', '.join(unknown)}", field=name
        )
    return values
