"""Contracts read requests: bodies, query strings and path ids into models, refused in the
API's words (the texts a field declares), and handlers declare their operation once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import pytest
from msgspec import Meta, Struct, field
from starlette.requests import Request

from admin.api.bodies import decode_body
from admin.api.contracts import MAX_ID, Operations, Results, RowId, operation_of
from admin.api.errors import InvalidData, MalformedBody, MissingField, NotFound
from admin.api.fields import Check, Messages
from admin.api.queries import parse_path, parse_query


def _no_example(url: str) -> None:
    if "example" in url:
        raise ValueError("url must not be an example")


class Body(Struct, kw_only=True):
    flag: Annotated[bool | None, Messages("field '{field}' must be a boolean")] = None
    ref: Annotated[
        RowId | None,
        Messages("field '{field}' must be an integer", bounds="field '{field}' is out of range"),
    ] = None
    url: Annotated[str, Messages("url is required", missing="url is required"), Check(_no_example)]
    tags: Annotated[
        list[Annotated[str, Meta(min_length=1)]], Messages("'{field}' must be a list")
    ] = []
    name: Annotated[str, Messages("field '{field}' must be a string")] = "x"


def refusal(raw: bytes) -> tuple[type, str, str | None]:
    with pytest.raises((InvalidData, MissingField, MalformedBody)) as caught:
        decode_body(raw, Body)
    return type(caught.value), caught.value.description, caught.value.field


def test_a_body_that_fits_is_read_and_unknown_fields_are_ignored():
    body = decode_body(b'{"url": "https://a.test/", "ref": 7, "other": [1, {"x": NaN}]}', Body)
    assert body == Body(url="https://a.test/", ref=7)


def test_a_field_of_the_wrong_type_is_refused_with_its_declared_text():
    assert refusal(b'{"url": "u", "flag": "true"}') == (
        InvalidData, "field 'flag' must be a boolean", "flag",
    )  # fmt: skip


def test_a_value_out_of_bounds_gets_the_bounds_text():
    assert refusal(b'{"url": "u", "ref": 0}')[1:] == ("field 'ref' is out of range", "ref")
    assert refusal(f'{{"url": "u", "ref": {MAX_ID + 1}}}'.encode())[1] == (
        "field 'ref' is out of range"
    )
    assert refusal(b'{"url": "u", "ref": true}')[1] == "field 'ref' must be an integer"


def test_a_missing_or_null_required_field_is_refused_with_its_missing_text():
    assert refusal(b"{}") == (InvalidData, "url is required", "url")
    assert refusal(b'{"url": null}') == (InvalidData, "url is required", "url")


def test_null_for_a_field_that_takes_no_null_is_the_wrong_type():
    assert refusal(b'{"url": "u", "tags": null}')[1] == "'tags' must be a list"


def test_a_check_runs_after_the_type_in_field_order():
    assert refusal(b'{"url": "https://example.com/"}')[1:] == (
        "url must not be an example", "url",
    )  # fmt: skip
    # An earlier field's wrong type is refused before a later field's check.
    assert refusal(b'{"flag": 1, "url": "https://example.com/"}')[2] == "flag"


def test_lone_surrogates_are_refused_naming_the_field():
    assert refusal(b'{"url": "u", "name": "\\ud800"}') == (
        InvalidData, "field 'name' is not valid Unicode text", "name",
    )  # fmt: skip
    assert refusal(b'{"url": "u", "tags": ["a", "\\udfff"]}')[1:] == (
        "field 'tags' is not valid Unicode text", "tags",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"{", "The request body is not valid JSON."),
        (b'{"url": "u"} x', "The request body is not valid JSON."),
        (b"[" * 100_000, "The request body is nested too deeply."),
        (b'["url"]', "The request body must be a JSON object."),
    ],
)
def test_a_body_that_is_not_a_json_object_is_malformed(raw, text):
    assert refusal(raw) == (MalformedBody, text, None)


def test_an_empty_body_is_an_empty_object():
    assert refusal(b" \r\n") == (InvalidData, "url is required", "url")


class Query(Struct, kw_only=True):
    start: datetime = field(name="from")
    machine: bool = False
    top: Annotated[int, Meta(ge=0, le=100)] = 10
    kinds: tuple[Literal["click", "open", "initial_open"], ...] = field(default=(), name="type")
    fmt: Annotated[Literal["ndjson", "csv"], Messages("'format' must be ndjson or csv")] = field(
        default="ndjson", name="format"
    )
    text: str | None = None


def query_refusal(params: dict) -> tuple[type, str]:
    with pytest.raises((InvalidData, MissingField)) as caught:
        parse_query({"from": "2026-11-02", **params}, Query)
    return type(caught.value), caught.value.description


def test_a_query_string_is_read_into_its_model():
    query = parse_query(
        {"from": "2026-11-02T12:00:00+02:00", "machine": " YES ", "type": "open, click"}, Query
    )
    assert query == Query(
        start=datetime(2026, 11, 2, 10, tzinfo=UTC), machine=True, kinds=("open", "click")
    )


def test_absent_and_empty_parameters_take_their_defaults_and_required_ones_are_refused():
    assert parse_query({"from": "2026-11-02", "top": "", "text": ""}, Query).top == 10
    with pytest.raises(MissingField):
        parse_query({"from": " "}, Query)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"from": "yesterday"}, "'from' must be an ISO 8601 time such as 2026-11-02T10:00:00Z"),
        ({"machine": "maybe"}, "'machine' must be true or false"),
        ({"top": "ten"}, "'top' must be an integer"),
        ({"top": "101"}, "'top' must be between 0 and 100"),
        ({"type": "open,x,y"}, "'type' must be among click, open, initial_open; got x, y"),
        ({"format": "xml"}, "'format' must be ndjson or csv"),
    ],
)
def test_a_parameter_that_does_not_fit_is_refused_with_todays_text(params, text):
    assert query_refusal(params) == (InvalidData, text)


@pytest.mark.parametrize("raw", ["0", "-1", "+1", " 1", "abc", str(MAX_ID + 1), "1" * 5000])
def test_a_path_id_that_names_no_row_is_not_found(raw):
    with pytest.raises(NotFound) as caught:
        parse_path(raw, RowId)
    assert caught.value.description == f"Resource not found: {raw}"


def test_a_path_id_is_read_as_an_integer_and_text_as_it_is():
    assert parse_path(str(MAX_ID), RowId) == MAX_ID
    assert parse_path(" a b ", str) == " a b "


class Answer(Struct):
    id: int


def test_a_handlers_signature_declares_its_operation():
    op = Operations("Things", auth=None)

    @op("Change a thing", status=201, errors=(409,))
    async def patch(request: Request, body: Body, query: Query, id: RowId) -> Results[Answer]:
        return Results(Answer(id))

    declared = operation_of(patch)
    assert declared is not None
    assert (declared.summary, declared.tags, declared.status, declared.errors) == (
        "Change a thing", ("Things",), 201, (409,),
    )  # fmt: skip
    assert (declared.body, declared.query, dict(declared.path)) == (Body, Query, {"id": RowId})
    assert declared.answer == Results[Answer]
