"""The OpenAPI document: valid, complete, and describing what the server really answers."""

from __future__ import annotations

import jsonschema
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

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
    for route in routes:
        if isinstance(route, Mount):
            yield from app_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, {m.lower() for m in route.methods or ()} - {"head"}


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


def test_path_items_other_modules_register_are_served(admin):
    item = {"post": {"summary": "Rewrite", "responses": {"200": {"description": "ok"}}}}
    admin.live.app.admin_app.state.openapi_paths["/api/v1/example"] = item
    doc = fetch_doc(admin)
    assert doc["paths"]["/api/v1/example"] == item
    validate(doc)
