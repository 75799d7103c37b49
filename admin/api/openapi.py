"""The OpenAPI 3.1 document of both dialects, served at ``/api/v1/openapi.json``.

Written by hand next to the routes it describes; the tests check that every route the admin
app has appears here with its methods, that the document is valid, and that real responses
validate against the schemas given for them. A module that adds routes to the admin app adds
their path items too, in ``create_admin_app``::

    app.state.openapi_paths.update(rewrite.OPENAPI_PATHS)

They may refer to this module's ``SCHEMAS`` (``#/components/schemas/SparkPostErrors``...).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from edge import __version__

SP = "/api/v1/tracking-domains"
ML = "/api/v1/customer/tracking-domains"
MLS = "/api/v1/customer/domains"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _sp_errors(*statuses: int) -> dict:
    return {str(s): _json(_ref("SparkPostErrors"), "SparkPost error") for s in statuses}


def _ml_errors(*statuses: int) -> dict:
    return {str(s): _json(_ref("CustomerError"), "Mailerlogic error") for s in statuses}


def _data(schema: dict) -> dict:
    return {"type": "object", "required": ["data"], "properties": {"data": schema}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(tag: str, summary: str, responses: dict, **extra: object) -> dict:
    return {"tags": [tag], "summary": summary, "responses": responses, **extra}


_NULL_STR = {"type": ["string", "null"]}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_TIME = {"type": "string", "format": "date-time"}
_ID_PARAM = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_DOMAIN_PARAM = [{"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}]
_NO_CONTENT = {"204": {"description": "Deleted"}}

SCHEMAS: dict = {
    "SparkPostErrors": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "description": {"type": "string"},
                    },
                },
            }
        },
    },
    "CustomerError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "code", "message"],
                "properties": {
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                    "reason": {"type": "string"},
                },
            }
        },
    },
    "SparkPostStatus": {
        "type": "object",
        "required": ["verified", "cname_status", "compliance_status"],
        "properties": {
            "verified": {"type": "boolean"},
            "cname_status": {"enum": ["unverified", "pending", "invalid", "valid"]},
            "compliance_status": {"enum": ["pending", "valid", "blocked"]},
        },
    },
    "SparkPostTrackingDomain": {
        "type": "object",
        "required": ["port", "domain", "secure", "default", "status"],
        "properties": {
            "port": {"enum": [80, 443]},
            "domain": {"type": "string"},
            "secure": {"type": "boolean"},
            "default": {"type": "boolean"},
            "status": _ref("SparkPostStatus"),
        },
    },
    "SparkPostDomainResult": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "object",
                "required": ["domain"],
                "properties": {"domain": {"type": "string"}},
            }
        },
    },
    "DnsRecord": {
        "type": "object",
        "required": ["name", "type", "target"],
        "properties": {
            "name": {"type": "string"},
            "type": {"const": "CNAME"},
            "target": {"type": "string"},
        },
    },
    "TrackingDomain": {
        "type": "object",
        "required": [
            "id",
            "domain",
            "secure",
            "default",
            "verified",
            "verification_status",
            "verification_reason",
            "last_checked_at",
            "compliance_status",
            "ssl_status",
            "dns_record",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "domain": {"type": "string", "description": "lower case, A-labels"},
            "secure": {"type": "boolean"},
            "default": {"type": "boolean"},
            "verified": {"type": "boolean"},
            "verification_status": {"enum": ["unverified", "pending", "invalid", "valid"]},
            "verification_reason": {**_NULL_STR, "description": "what the last check found"},
            "last_checked_at": _NULL_TIME,
            "compliance_status": {"enum": ["pending", "valid", "blocked"]},
            "ssl_status": {"enum": ["unavailable", "provisioning", "active", "failed"]},
            "dns_record": _ref("DnsRecord"),
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "TrackingDomainDetail": {
        "allOf": [
            _ref("TrackingDomain"),
            {
                "type": "object",
                "required": ["ssl", "dns_instructions"],
                "properties": {
                    "ssl": _ref("Ssl"),
                    "dns_instructions": {"type": "array", "items": {"type": "string"}},
                },
            },
        ]
    },
    "Ssl": {
        "type": "object",
        "required": ["id", "domain", "status"],
        "properties": {
            "id": {"type": "integer"},
            "domain": {"type": "string"},
            "status": {"enum": ["unavailable", "provisioning", "active", "failed"]},
            "issuer": _NULL_STR,
            "not_before": _NULL_TIME,
            "not_after": _NULL_TIME,
            "renew_at": _NULL_TIME,
            "reason": _NULL_STR,
        },
    },
    "SendingDomain": {
        "type": "object",
        "required": ["id", "domain", "tracking_domain_id", "tracking_domain"],
        "properties": {
            "id": {"type": "integer"},
            "domain": {"type": "string"},
            "tracking_domain_id": {"type": ["integer", "null"]},
            "tracking_domain": _NULL_STR,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
}

_SP_TAG = "SparkPost tracking domains"
_ML_TAG = "Mailerlogic tracking domains"
_MLS_TAG = "Mailerlogic sending domains"
_SP_CREATE = {
    "type": "object",
    "properties": {
        "domain": {"type": "string"},
        "secure": {"type": "boolean", "description": "false: port 80; true: port 443"},
        "default": {"type": "boolean", "description": "only a verified domain may be default"},
    },
}

PATHS: dict = {
    SP: {
        "post": _op(
            _SP_TAG, "Create a tracking domain",
            {"200": _json(_ref("SparkPostDomainResult"), "Created"),
             **_sp_errors(400, 401, 409, 422)},
            requestBody=_body(_SP_CREATE),
        ),
        "get": _op(
            _SP_TAG, "List the account's tracking domains",
            {"200": _json({"type": "object", "required": ["results"], "properties": {
                "results": {"type": "array", "items": _ref("SparkPostTrackingDomain")}}},
                "Tracking domains"), **_sp_errors(401)},
        ),
    },
    SP + "/{domain}": {
        "parameters": _DOMAIN_PARAM,
        "get": _op(
            _SP_TAG, "Retrieve a tracking domain",
            {"200": _json({"type": "object", "required": ["results"], "properties": {
                "results": _ref("SparkPostTrackingDomain")}}, "The tracking domain"),
             **_sp_errors(401, 404)},
        ),
        "put": _op(
            _SP_TAG, "Update secure and default (making a domain default moves the default)",
            {"200": _json(_ref("SparkPostDomainResult"), "Updated"),
             **_sp_errors(400, 401, 404, 422)},
            requestBody=_body({"type": "object", "properties": {
                "secure": {"type": "boolean"}, "default": {"type": "boolean"}}}),
        ),
        "delete": _op(
            _SP_TAG, "Delete a tracking domain (409 while sending domains use it)",
            {**_NO_CONTENT, **_sp_errors(401, 404, 409)},
        ),
    },
    SP + "/{domain}/verify": {
        "parameters": _DOMAIN_PARAM,
        "post": _op(
            _SP_TAG, "Check the CNAME, then that the domain reaches this edge (else 1404)",
            {"200": _json({"type": "object", "required": ["results"], "properties": {
                "results": _ref("SparkPostStatus")}}, "The domain's status"),
             **_sp_errors(400, 401, 404)},
        ),
    },
    ML: {
        "post": _op(
            _ML_TAG, "Create a tracking domain; the answer carries the CNAME record to add",
            {"201": _json(_data(_ref("TrackingDomain")), "Created"),
             **_ml_errors(400, 401, 409, 422)},
            requestBody=_body({"type": "object", "required": ["domain"], "properties": {
                "domain": {"type": "string"}, "secure": {"type": "boolean"}}}),
        ),
        "get": _op(
            _ML_TAG, "List the account's tracking domains",
            {"200": _json(_data({"type": "array", "items": _ref("TrackingDomain")}),
                          "Tracking domains"), **_ml_errors(401)},
        ),
    },
    ML + "/{id}": {
        "parameters": _ID_PARAM,
        "get": _op(
            _ML_TAG, "Get a tracking domain with DNS set-up instructions and SSL status",
            {"200": _json(_data(_ref("TrackingDomainDetail")), "The tracking domain"),
             **_ml_errors(401, 404)},
        ),
        "patch": _op(
            _ML_TAG, "Rename (resets verification and SSL)",
            {"200": _json(_data(_ref("TrackingDomain")), "Renamed"),
             **_ml_errors(400, 401, 404, 409, 422)},
            requestBody=_body({"type": "object", "required": ["domain"], "properties": {
                "domain": {"type": "string"}}}),
        ),
        "delete": _op(
            _ML_TAG, "Delete (409 domain_in_use while sending domains use it)",
            {**_NO_CONTENT, **_ml_errors(401, 404, 409)},
        ),
    },
    ML + "/{id}/verify": {
        "parameters": _ID_PARAM,
        "post": _op(
            _ML_TAG, "Verify the CNAME and reachability; on success SSL provisioning starts",
            {"200": _json(_data(_ref("TrackingDomain")), "The domain after the check"),
             **_ml_errors(400, 401, 404)},
        ),
    },
    ML + "/{id}/ssl": {
        "parameters": _ID_PARAM,
        "get": _op(
            _ML_TAG, "SSL certificate status",
            {"200": _json(_data(_ref("Ssl")), "Certificate status"), **_ml_errors(401, 404)},
        ),
        "post": _op(
            _ML_TAG, "(Re-)issue the certificate in the background; verified domains only",
            {"202": _json(_data(_ref("Ssl")), "Accepted"),
             **_ml_errors(401, 404, 422, 503)},
        ),
    },
    MLS: {
        "post": _op(
            _MLS_TAG, "Create a sending domain",
            {"201": _json(_data(_ref("SendingDomain")), "Created"),
             **_ml_errors(400, 401, 409, 422)},
            requestBody=_body({"type": "object", "required": ["domain"], "properties": {
                "domain": {"type": "string"},
                "tracking_domain_id": {"type": ["integer", "null"]}}}),
        ),
        "get": _op(
            _MLS_TAG, "List sending domains",
            {"200": _json(_data({"type": "array", "items": _ref("SendingDomain")}),
                          "Sending domains"), **_ml_errors(401)},
        ),
    },
    MLS + "/{id}": {
        "parameters": _ID_PARAM,
        "get": _op(
            _MLS_TAG, "Get a sending domain",
            {"200": _json(_data(_ref("SendingDomain")), "The sending domain"),
             **_ml_errors(401, 404)},
        ),
        "patch": _op(
            _MLS_TAG, "Assign a tracking domain (null: the default)",
            {"200": _json(_data(_ref("SendingDomain")), "Updated"),
             **_ml_errors(400, 401, 404, 422)},
            requestBody=_body({"type": "object", "required": ["tracking_domain_id"],
                               "properties": {"tracking_domain_id": {
                                   "type": ["integer", "null"]}}}),
        ),
        "delete": _op(
            _MLS_TAG, "Delete a sending domain", {**_NO_CONTENT, **_ml_errors(401, 404)}
        ),
    },
    "/api/v1/openapi.json": {
        "get": _op(
            "Meta", "This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            security=[],
        ),
    },
    "/internal/tls-allowed": {
        "get": _op(
            "Meta",
            "On-demand TLS 'ask' (Caddy): 200 for a served tracking domain, else 404",
            {
                "200": {"description": "allowed", "content": {"text/plain": {"schema": {
                    "type": "string"}}}},
                "404": {"description": "not a served tracking domain", "content": {
                    "text/plain": {"schema": {"type": "string"}}}},
            },
            security=[],
            parameters=[{"name": "domain", "in": "query", "required": True,
                         "schema": {"type": "string"}}],
        ),
    },
    "/healthz": {
        "get": _op(
            "Meta", "Health", {"200": _json({"type": "object"}, "Status")}, security=[]
        ),
    },
}  # fmt: skip


def document(extra_paths: dict | None = None) -> dict:
    """The whole document; other modules' routes add their own entries via ``extra_paths``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tracking-edge admin API",
            "version": __version__,
            "description": "Tracking domains in two dialects over one service: SparkPost "
            "(keyed by name, errors as {errors: [{code, message, description}]}) and "
            "Mailerlogic (keyed by id, answers as {data}, errors as {error: {status, code, "
            "message, field}}). Authenticate with 'Authorization: <key>' or "
            "'Authorization: Bearer <key>'.",
        },
        "security": [{"apiKey": []}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "paths": {**PATHS, **(extra_paths or {})},
    }


async def openapi_json(request: Request) -> JSONResponse:
    extra = getattr(request.app.state, "openapi_paths", None)
    return JSONResponse(document(extra))
