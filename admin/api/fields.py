"""What a contract says about each of its fields: name on the wire, type, and refusal texts.

Models are :class:`msgspec.Struct` classes. A field may carry a :class:`Messages` in its
``Annotated`` type: the texts the API answers with when the field does not fit (each dialect
has its own wording, and the seed's wording is part of the API)::

    secure: Annotated[bool | None, Messages("field '{field}' must be a boolean")] = None

``{field}`` is replaced by the field's name on the wire. A field may also carry :class:`Check`
rules beyond its type, run in declaration order as the routes have always run them.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import msgspec

M = TypeVar("M")

#: The characters ``str.strip()`` removes, as a character class for the document's patterns
#: (JSON Schema's regular expressions are ECMA-262's, whose ``\s`` is another set).
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Text that is not blank once stripped: the pattern of a field whose blank value is missing.
NOT_BLANK = f"[^{SPACE}]"
#: Text without NUL (``admin.api.contracts.Text``).
NO_NUL = "^[^\\x00]*$"


@dataclass(frozen=True)
class Messages:
    """Refusal texts of one field."""

    #: The value is not of the declared type.
    wrong: str
    #: The type is right but a declared bound is not met (length, range); default ``wrong``.
    bounds: str | None = None
    #: A required field is absent (or null): an :class:`~admin.api.errors.InvalidData` with
    #: this text instead of the usual :class:`~admin.api.errors.MissingField`.
    missing: str | None = None


@dataclass(frozen=True)
class Check:
    """A rule beyond the type, for a value that is given, not null and of the right type:
    ``rule`` raises :class:`ValueError` with the refusal text."""

    rule: Callable[[Any], object]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a model, as parsing and the OpenAPI document need it."""

    name: str
    wire: str
    required: bool
    #: The declared type with its bounds (``Annotated[int, Meta(ge=1)]``), and without them.
    type: Any
    plain: Any
    messages: Messages | None
    checks: tuple[Check, ...]
    info: msgspec.inspect.Type


def fits(value: object, kind: Any) -> bool:
    """Whether ``value`` (decoded JSON) is of type ``kind``, strictly (``"1"`` is no int)."""
    try:
        msgspec.convert(_replace_surrogates(value), kind, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def _replace_surrogates(value: object) -> object:
    """``value`` with lone surrogates (valid JSON, not Unicode) as U+FFFD: msgspec cannot take
    them, and whether a value is Unicode is not a question of its type."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


@cache
def fields_of(model: type[msgspec.Struct]) -> tuple[FieldSpec, ...]:
    """The fields of ``model`` in declaration order (the order they are checked in)."""
    full = typing.get_type_hints(model, include_extras=True)
    plain = typing.get_type_hints(model)
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(
        FieldSpec(
            f.name,
            f.encode_name,
            f.required,
            full[f.name],
            plain[f.name],
            _messages(full[f.name]),
            _marks(full[f.name], Check),
            f.type,
        )
        for f in info.fields
    )


def _messages(kind: Any) -> Messages | None:
    return next(iter(_marks(kind, Messages)), None)


def _marks(kind: Any, mark: type[M]) -> tuple[M, ...]:
    if typing.get_origin(kind) is typing.Annotated:
        return tuple(m for m in kind.__metadata__ if isinstance(m, mark))
    return ()
