"""Query strings and path parameters, read into a contract's model with the API's errors.

A query model is a :class:`msgspec.Struct` whose field types say how each parameter is read:

==========================  ==================================================================
``bool``                    ``true``/``false`` (or ``1``/``0``, ``yes``/``no``)
``int`` with ``Meta`` bounds  a decimal integer within them
``str``                     as given
``Literal[...]``            one of the values (the field declares its ``Messages``)
``tuple[Literal[...], ...]`` a comma-separated list of the values
``datetime``                ISO 8601 (``2026-11-02T10:00:00Z``, an offset, or a bare date
                            meaning midnight UTC); UTC when no offset is given
==========================  ==================================================================

An absent or empty parameter takes the field's default; a required one is refused with
:class:`~admin.api.errors.MissingField`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from admin.api.errors import InvalidData, MissingField, NotFound
from admin.api.fields import NO_NUL, SPACE, FieldSpec, fields_of, fits
from admin.api.timestamps import parse_iso

Model = TypeVar("Model", bound=msgspec.Struct)
Parser = Callable[[str], Any]

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_query(params: Mapping[str, str], model: type[Model]) -> Model:
    values: dict[str, Any] = {}
    for field, parse, blank_is_absent in _parsers(model):
        raw = params.get(field.wire)
        if raw is None or not (raw.strip() if blank_is_absent else raw):
            if field.required:
                raise MissingField(field.wire)
            continue
        try:
            values[field.name] = parse(raw)
        except ValueError as exc:
            declared = field.messages
            text = declared.wrong.format(field=field.wire) if declared else str(exc)
            raise InvalidData(text, field=field.wire) from None
    return model(**values)


def absence(model: type[msgspec.Struct]) -> dict[str, dict[str, str]]:
    """For each parameter, the JSON Schema of the values read as its absence (for the
    document): empty, or blank for a time."""
    blank = {"type": "string", "pattern": f"^[{SPACE}]*$"}
    return {
        field.wire: blank if blank_is_absent else {"const": ""}
        for field, _, blank_is_absent in _parsers(model)
    }


def can_refuse(model: type[msgspec.Struct]) -> bool:
    """Whether some query string is refused (a parameter is required or is not free text)."""
    return any(field.required or not _is_free_text(field.info) for field, _, _ in _parsers(model))


def _is_free_text(info: mi.Type) -> bool:
    info = _unwrap(info)
    return isinstance(info, mi.StrType) and info.pattern is None


def parse_path(raw: str, kind: Any) -> Any:
    """A path parameter: text as given, or a row id (anything else names nothing: 404)."""
    if kind is str:
        return raw
    if isinstance(mi.type_info(kind), mi.StrType):
        if fits(raw, kind):
            return raw
        raise NotFound(raw)
    # The length check comes first: int() of thousands of digits is slow, then refused.
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and fits(int(raw), kind):
        return int(raw)
    raise NotFound(raw)


@cache
def _parsers(model: type[msgspec.Struct]) -> tuple[tuple[FieldSpec, Parser, bool], ...]:
    return tuple(
        (f, _parser(f, _unwrap(f.info)), isinstance(_unwrap(f.info), mi.DateTimeType))
        for f in fields_of(model)
    )


def _unwrap(info: mi.Type) -> mi.Type:
    """``X | None`` is read as ``X`` (an absent parameter is the ``None``); descriptions and
    other metadata are the document's."""
    if isinstance(info, mi.Metadata):
        return _unwrap(info.type)
    if isinstance(info, mi.UnionType):
        (info,) = (t for t in info.types if not isinstance(t, mi.NoneType))
        return _unwrap(info)
    return info


def _parser(field: FieldSpec, info: mi.Type) -> Parser:
    """The reading of one parameter: its value, or :class:`ValueError` with the refusal."""
    name = field.wire
    if isinstance(info, mi.BoolType):
        return lambda raw: _boolean(raw, name)
    if isinstance(info, mi.IntType):
        return lambda raw: _integer(raw, name, info.ge, info.le)
    if isinstance(info, mi.DateTimeType):
        return lambda raw: _time(raw, name)
    if isinstance(info, mi.LiteralType):
        assert field.messages is not None, f"{name}: a choice declares its Messages"
        return lambda raw: _choice(raw, info.values)
    if isinstance(info, mi.VarTupleType) and isinstance(info.item_type, mi.LiteralType):
        # In declared order (msgspec sorts them), as the refusal lists them.
        allowed: tuple[str, ...] = typing.get_args(typing.get_args(field.plain)[0])
        return lambda raw: _choices(raw, allowed, name)
    assert isinstance(info, mi.StrType), f"{name}: no query reading for {info}"
    pattern = info.pattern
    if pattern is not None:
        return lambda raw: _text(raw, name, pattern)
    return lambda raw: raw


def _boolean(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"'{name}' must be true or false")


def _integer(raw: str, name: str, low: int | None, high: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"'{name}' must be an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"'{name}' must be between {low} and {high}")
    return value


def _time(raw: str, name: str) -> datetime:
    try:
        return parse_iso(raw)
    except ValueError:
        raise ValueError(
            f"'{name}' must be an ISO 8601 time such as 2026-11-02T10:00:00Z"
        ) from None


def _text(raw: str, name: str, pattern: str) -> str:
    if not re.search(pattern, raw):
        if pattern == NO_NUL:
            raise ValueError(f"'{name}' must not hold a NUL character")
        raise ValueError(f"'{name}' must match {pattern}")
    return raw


def _choice(raw: str, allowed: tuple[object, ...]) -> str:
    if raw not in allowed:
        raise ValueError(raw)
    return raw


def _choices(raw: str, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"'{name}' must be among {', '.join(allowed)}; got {', '.join(unknown)}")
    return values
