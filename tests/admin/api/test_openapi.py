"""The OpenAPI document: valid, complete, and describing what the server really answers."""

from __future__ import annotations

import json
import re
import sys

import jsonschema
import pytest
from msgspec import Struct
from openapi_spec_validator import validate
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.schemas import BaseSchemaGenerator

from admin.api.contracts import MAX_ID, Operations, Results, RowId, json_response, operation_of
from admin.api.fields import NO_NUL, NOT_BLANK, SPACE, fields_of
from admin.api.openapi import document, operations

SP = "/api/v1/tracking-domains"
ML = "/api/v1/customer/tracking-domains"
MLS = "/api/v1/customer/domains"


def fetch_doc(admin) -> dict:
    with admin.client(None) as c:
        r = c.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    return r.json()


def app_routes(routes, prefix=""):
    """``(path template, methods)`` of every route; a parameter's convertor (``{x:path}``)
    is Starlette's, not OpenAPI's, and is left out as Starlette's schema generator does."""
    for route in routes:
        if isinstance(route, Mount):
            yield from app_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:  # the console's are not
            yield re.sub(r":\w+}", "}", prefix + route.path), methods_of(route)


def methods_of(route: Route) -> set[str]:
    if route.methods:
        return {m.lower() for m in route.methods} - {"head"}
    # An HTTPEndpoint class answers the methods it defines (and 405 to the others).
    return {m for m in ("get", "post", "put", "patch", "delete") if hasattr(route.endpoint, m)}


def conforms(doc, template, method, response):
    """Assert ``response`` is documented for ``template``/``method`` and fits its schema."""
    documented = doc["paths"][template][method]["responses"]
    assert str(response.status_code) in documented, (template, method, response.status_code)
    content = documented[str(response.status_code)].get("content")
    if content is None:
        assert response.content == b""
        return
    if "application/json" not in content:
        return
    schema = {**content["application/json"]["schema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(response.json())


def test_document_is_valid_openapi(admin):
    validate(fetch_doc(admin))


def test_every_route_the_admin_app_has_is_documented_with_its_methods(admin):
    doc = fetch_doc(admin)
    routes = dict(app_routes(admin.live.app.admin_app.routes))
    assert routes  # the walk found the app's routes
    for path, methods in routes.items():
        assert path in doc["paths"], path
        assert methods == set(doc["paths"][path]) - {"parameters"}, path


def test_every_documented_operation_exists_in_the_app(admin):
    doc = fetch_doc(admin)
    routes = dict(app_routes(admin.live.app.admin_app.routes))
    for path, item in doc["paths"].items():
        assert set(item) - {"parameters"} == routes[path], path


def test_real_answers_fit_the_documented_schemas(admin):
    doc = fetch_doc(admin)
    with admin.as_account() as c:
        calls = [
            (SP, "post", c.post(SP, json={"domain": "sp.brand.com", "secure": True})),
            (SP, "post", c.post(SP, json={"domain": "sp.brand.com"})),
            (SP, "post", c.post(SP, json={"domain": "ex"})),
            (SP, "post", c.post(SP, json={"domain": "track.test"})),
            (SP, "get", c.get(SP)),
            (SP + "/{domain}", "get", c.get(f"{SP}/sp.brand.com")),
            (SP + "/{domain}", "get", c.get(f"{SP}/nope.brand.com")),
            (SP + "/{domain}", "put", c.put(f"{SP}/sp.brand.com", json={"default": True})),
            (SP + "/{domain}/verify", "post", c.post(f"{SP}/sp.brand.com/verify")),
        ]
        admin.cname.point("sp.brand.com")
        calls += [
            (SP + "/{domain}/verify", "post", c.post(f"{SP}/sp.brand.com/verify")),
            (SP + "/{domain}", "put", c.put(f"{SP}/sp.brand.com", json={"default": True})),
        ]
        created = c.post(ML, json={"domain": "ml.brand.com"})
        i = created.json()["data"]["id"]
        admin.cname.point("ml.brand.com")
        calls += [
            (ML, "post", created),
            (ML, "post", c.post(ML, json={})),
            (ML, "get", c.get(ML)),
            (ML + "/{id}", "get", c.get(f"{ML}/{i}")),
            (ML + "/{id}/ssl", "post", c.post(f"{ML}/{i}/ssl")),
            (ML + "/{id}/verify", "post", c.post(f"{ML}/{i}/verify")),
            (ML + "/{id}/ssl", "get", c.get(f"{ML}/{i}/ssl")),
            (ML + "/{id}/ssl", "post", c.post(f"{ML}/{i}/ssl")),
        ]
        sending = c.post(MLS, json={"domain": "mail.brand.com", "tracking_domain_id": i})
        s = sending.json()["data"]["id"]
        calls += [
            (MLS, "post", sending),
            (MLS, "get", c.get(MLS)),
            (MLS + "/{id}", "get", c.get(f"{MLS}/{s}")),
            (ML + "/{id}", "delete", c.delete(f"{ML}/{i}")),
            (MLS + "/{id}", "patch", c.patch(f"{MLS}/{s}", json={"tracking_domain_id": None})),
            (MLS + "/{id}", "delete", c.delete(f"{MLS}/{s}")),
            (ML + "/{id}", "patch", c.patch(f"{ML}/{i}", json={"domain": "ml2.brand.com"})),
            (ML + "/{id}", "delete", c.delete(f"{ML}/{i}")),
            (SP + "/{domain}", "delete", c.delete(f"{SP}/sp.brand.com")),
        ]
    with admin.client(None) as anonymous:
        calls += [(SP, "get", anonymous.get(SP)), (ML, "get", anonymous.get(ML))]
    with admin.client(None) as c:
        calls.append(("/healthz", "get", c.get("/healthz")))
    statuses = {r.status_code for _, _, r in calls}
    assert statuses == {200, 201, 202, 204, 400, 401, 404, 409, 422}
    for template, method, response in calls:
        conforms(doc, template, method, response)


def test_the_document_is_generated_from_the_apps_routes(admin):
    app = admin.live.app.admin_app
    assert fetch_doc(admin) == json.loads(json_response(document(app.routes)).body)


class Thing(Struct):
    id: int


class Things(HTTPEndpoint):
    @Operations("Things")("Get a thing", errors=(404,))
    async def get(self, request: Request, id: RowId) -> Results[Thing]:
        return Results(Thing(id))


def test_a_route_added_with_an_operation_is_documented_at_once():
    doc = json.loads(json_response(document([Route("/things/{id}", Things)])).body)
    validate(doc)
    get = doc["paths"]["/things/{id}"]["get"]
    assert get["summary"] == "Get a thing"
    assert get["parameters"][0]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"$ref": "#/components/schemas/Thing"}},
    }
    assert set(get["responses"]) == {"200", "404"}


def test_a_route_without_an_operation_is_refused():
    async def undeclared(request: Request) -> Response:
        return Response()

    with pytest.raises(TypeError, match="GET /nothing: no operation"):
        document([Route("/nothing", undeclared)])


def test_every_route_of_the_app_declares_an_operation(admin):
    endpoints = BaseSchemaGenerator().get_endpoints(admin.live.app.admin_app.routes)
    assert len(endpoints) > 30
    for endpoint in endpoints:
        assert operation_of(endpoint.func) is not None, endpoint


def test_a_required_field_is_required_in_the_document(admin):
    doc = fetch_doc(admin)
    bodies = [
        op.body for _, _, op in operations(admin.live.app.admin_app.routes) if op.body is not None
    ]
    assert len(bodies) == 11
    for body in bodies:
        required = [f.wire for f in fields_of(body) if f.required]
        assert doc["components"]["schemas"][body.__name__].get("required", []) == required
    # The server has always refused a webhook without one; the document now says so.
    assert doc["components"]["schemas"]["WebhookCreate"]["required"] == ["url"]
    create = doc["paths"]["/api/v1/webhooks"]["post"]["requestBody"]
    assert create["required"] is True


def test_public_routes_need_no_key_in_the_document(admin):
    doc = fetch_doc(admin)
    for path in ("/healthz", "/internal/tls-allowed", "/api/v1/openapi.json"):
        assert doc["paths"][path]["get"]["security"] == []
    assert "security" not in doc["paths"][SP]["get"]
    assert doc["security"] == [{"apiKey": []}]


def test_meta_answers_fit_the_document(admin):
    doc = fetch_doc(admin)
    with admin.client(None) as c:
        calls = [
            ("/healthz", c.get("/healthz")),
            ("/api/v1/openapi.json", c.get("/api/v1/openapi.json")),
            ("/internal/tls-allowed", c.get("/internal/tls-allowed", params={"domain": "x.y"})),
            ("/internal/tls-allowed", c.get("/internal/tls-allowed?domain=track.test")),
        ]
    assert [r.status_code for _, r in calls] == [200, 200, 404, 200]
    for template, response in calls:
        conforms(doc, template, "get", response)


def test_a_body_one_of_whose_fields_is_needed_says_so(admin):
    # {} is refused (html or text is needed): the body is required, and either part must be
    # a string (null is no part).
    doc = fetch_doc(admin)
    rewrite = doc["paths"]["/api/v1/rewrite"]["post"]["requestBody"]
    assert rewrite["required"] is True
    assert doc["components"]["schemas"]["RewriteRequest"]["anyOf"] == [
        {"required": ["html"], "properties": {"html": {"type": "string"}}},
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
    ]


def test_query_times_name_their_forms_and_optional_ones_may_be_blank(admin):
    doc = fetch_doc(admin)
    stats = {p["name"]: p for p in doc["paths"]["/api/v1/engagement/stats"]["get"]["parameters"]}
    time = {"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}
    assert {k: v for k, v in stats["from"]["schema"].items() if k != "description"} == time
    assert stats["from"]["required"] is True
    # An optional parameter given empty reads as absent (blank too, for a time).
    assert stats["to"]["schema"]["anyOf"] == [
        time,
        {"type": "string", "pattern": f"^[{SPACE}]*$"},
    ]
    assert stats["top_links"]["schema"]["anyOf"] == [
        {"type": "integer", "minimum": 0, "maximum": 100},
        {"const": ""},
    ]
    # Text filters take "" as it is, and no NUL.
    assert stats["message"]["schema"] == {
        "type": "string",
        "pattern": NO_NUL,
        "description": "message reference",
    }


def test_names_and_urls_say_what_json_schema_can_of_their_rules(admin):
    doc = fetch_doc(admin)
    schemas = doc["components"]["schemas"]
    for model in ("SparkPostCreate", "CreateTrackingDomain", "CreateSendingDomain"):
        assert schemas[model]["properties"]["domain"]["pattern"] == NOT_BLANK
    url = schemas["WebhookCreate"]["properties"]["url"]
    assert url["pattern"] == f"^[{SPACE}]*[Hh][Tt][Tt][Pp][Ss]?://[^\\x00-\\x1f\\x7f]*[{SPACE}]*$"


def test_the_space_class_is_what_str_strip_removes():
    found = {chr(i) for i in range(sys.maxunicode + 1) if re.fullmatch(f"[{SPACE}]", chr(i))}
    assert found == {chr(i) for i in range(sys.maxunicode + 1) if chr(i).isspace()}
