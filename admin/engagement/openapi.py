"""OpenAPI path items of the engagement routes (:mod:`admin.engagement_api`,
:mod:`admin.events_api`), added to ``/api/v1/openapi.json`` by ``create_admin_app``."""

from __future__ import annotations

from admin.engagement.stats import METRICS as STATS_METRICS

_ERRORS = {"$ref": "#/components/schemas/SparkPostErrors"}
_TAGS = ["Engagement"]
_INT = {"type": "integer"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_STR = {"type": "string"}
_NULLABLE_STR = {"type": ["string", "null"]}

METRICS = {
    "type": "object",
    "required": list(STATS_METRICS),
    "properties": {
        # Every metric is a count but the rate, which is null when nothing was opened.
        **{name: _INT for name in STATS_METRICS if name != "click_to_open_rate"},
        "click_to_open_rate": {"type": ["number", "null"]},
    },
}
STATS = {
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "object",
            "required": ["from", "to", "group_by", "include_machine", "totals", "top_links"],
            "properties": {
                "from": _STR,
                "to": _STR,
                "group_by": {"type": ["string", "null"], "enum": ["hour", "day", None]},
                "include_machine": {"type": "boolean"},
                "totals": METRICS,
                "series": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            METRICS,
                            {"type": "object", "required": ["time"], "properties": {"time": _STR}},
                        ]
                    },
                },
                "top_links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["link", "clicks", "unique_clicks"],
                        "properties": {
                            "link": _NULLABLE_STR,
                            "clicks": _INT,
                            "unique_clicks": _INT,
                        },
                    },
                },
            },
        }
    },
}
EVENT = {
    "type": "object",
    "required": ["id", "type", "time", "ts_ms", "domain", "verdict", "rule"],
    "properties": {
        "id": _STR,
        "type": {"type": "string", "enum": ["click", "open", "initial_open"]},
        "time": _STR,
        "ts_ms": _INT,
        "domain": _STR,
        "message": _NULLABLE_STR,
        "recipient": _NULLABLE_STR,
        "link": _NULLABLE_STR,
        "url": _NULLABLE_STR,
        "client_ip": _NULLABLE_STR,
        "user_agent": _NULLABLE_STR,
        "method": _STR,
        "prefetch": {"type": "boolean"},
        "verdict": {
            "type": "string",
            "enum": ["human", "machine_open", "proxy_open", "scanner", "bot"],
        },
        "rule": _STR,
    },
}
EVENTS = {
    "type": "object",
    "required": ["results", "next_cursor", "limit"],
    "properties": {
        "results": {"type": "array", "items": EVENT},
        "next_cursor": _NULLABLE_STR,
        "limit": _INT,
    },
}
SETTINGS = {
    "type": "object",
    "properties": {
        "client_ip": {"type": "string", "enum": ["full", "truncated", "none"]},
        "user_agent": {"type": "string", "enum": ["full", "none"]},
        "track_opens": {"type": "boolean"},
        "track_clicks": {"type": "boolean"},
    },
}
LABELS = {
    "type": "object",
    "properties": {
        "message": _STR,
        "campaign": _NULLABLE_STR,
        "tags": {"type": "array", "items": _STR},
    },
}
ENDPOINT = {
    "type": "object",
    "required": ["id", "url", "event_types", "active", "status"],
    "properties": {
        "id": _INT,
        "url": _STR,
        "event_types": {"type": "array", "items": _STR},
        "active": {"type": "boolean"},
        "created_at": _INT,
        "secret": {"type": "string", "description": "only in the answer to the creation"},
        "status": {
            "type": "object",
            "properties": {
                "backlog": _INT,
                "delivered": _INT,
                "expired": _INT,
                "consecutive_failures": _INT,
                "next_attempt_ms": _NULLABLE_INT,
                "last_success_ms": _NULLABLE_INT,
                "last_error_ms": _NULLABLE_INT,
                "last_error": _NULLABLE_STR,
            },
        },
    },
}


def _ok(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _results(schema: dict) -> dict:
    return {"type": "object", "required": ["results"], "properties": {"results": schema}}


def _errors(*statuses: int) -> dict:
    return {str(s): _ok("SparkPost error", _ERRORS) for s in statuses}


def _query(name: str, description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": _STR,
    }


_FILTERS = [
    _query("domain", "tracking domain"),
    _query("message", "message reference"),
    _query("link", "link name (clicks only)"),
]
_RANGE = [
    _query("from", "start, ISO 8601 (inclusive)", required=True),
    _query("to", "end, ISO 8601 (exclusive); default now"),
]
_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}

PATHS = {
    "/api/v1/engagement/stats": {
        "get": {
            "tags": _TAGS,
            "summary": "Totals, time series and top links for a time range",
            "parameters": [
                *_RANGE,
                _query("group_by", "hour or day (UTC)"),
                *_FILTERS,
                _query("campaign", "campaign set on the message"),
                _query("tag", "tag set on the message"),
                _query("include_machine", "true: count machine, scanner and bot events too"),
                _query("top_links", "how many top links (0-100, default 10)"),
            ],
            "responses": {"200": _ok("Stats", STATS), **_errors(401, 422)},
        }
    },
    "/api/v1/engagement/events": {
        "get": {
            "tags": _TAGS,
            "summary": "Events in time order, with filters and cursor pagination",
            "parameters": [
                _query("from", "start, ISO 8601"),
                _query("to", "end, ISO 8601 (exclusive)"),
                _query("type", "comma-separated event types"),
                _query("verdict", "comma-separated verdicts"),
                _query("recipient", "recipient reference"),
                *_FILTERS,
                _query("limit", "page size, 1-1000 (default 100)"),
                _query("cursor", "next_cursor of the previous page"),
            ],
            "responses": {"200": _ok("A page of events", EVENTS), **_errors(401, 422)},
        }
    },
    "/api/v1/engagement/events/export": {
        "get": {
            "tags": _TAGS,
            "summary": "Stream every event of a time range as NDJSON or CSV",
            "parameters": [
                *_RANGE,
                _query("format", "ndjson (default) or csv"),
                _query("type", "comma-separated event types"),
                _query("verdict", "comma-separated verdicts"),
                _query("recipient", "recipient reference"),
                *_FILTERS,
            ],
            "responses": {
                "200": {
                    "description": "The events, one per line",
                    "content": {
                        "application/x-ndjson": {"schema": _STR},
                        "text/csv": {"schema": _STR},
                    },
                },
                **_errors(401, 422),
            },
        }
    },
    "/api/v1/engagement/settings": {
        "get": {
            "tags": _TAGS,
            "summary": "The account's privacy and tracking switches",
            "responses": {"200": _ok("Settings", _results(SETTINGS)), **_errors(401)},
        },
        "put": {
            "tags": _TAGS,
            "summary": "Change privacy and tracking switches (fields not given are kept)",
            "requestBody": _BODY,
            "responses": {"200": _ok("Settings", _results(SETTINGS)), **_errors(400, 401, 422)},
        },
    },
    "/api/v1/engagement/messages/{message}": {
        "parameters": [
            {"name": "message", "in": "path", "required": True, "schema": _STR},
        ],
        "get": {
            "tags": _TAGS,
            "summary": "Campaign and tags of a message",
            "responses": {"200": _ok("Labels", _results(LABELS)), **_errors(401)},
        },
        "put": {
            "tags": _TAGS,
            "summary": "Set the campaign and tags of a message (replaces them)",
            "requestBody": _BODY,
            "responses": {"200": _ok("Labels", _results(LABELS)), **_errors(400, 401, 422)},
        },
    },
    "/api/v1/webhooks": {
        "get": {
            "tags": ["Webhooks"],
            "summary": "Webhook endpoints with their delivery status",
            "responses": {
                "200": _ok("Endpoints", _results({"type": "array", "items": ENDPOINT})),
                **_errors(401),
            },
        },
        "post": {
            "tags": ["Webhooks"],
            "summary": "Register an endpoint (url, event_types); the answer holds its secret",
            "requestBody": _BODY,
            "responses": {
                "201": _ok("The endpoint", _results(ENDPOINT)),
                **_errors(400, 401, 422),
            },
        },
    },
    "/api/v1/webhooks/{id}": {
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": _INT}],
        "get": {
            "tags": ["Webhooks"],
            "summary": "One endpoint and its delivery status",
            "responses": {"200": _ok("The endpoint", _results(ENDPOINT)), **_errors(401, 404)},
        },
        "patch": {
            "tags": ["Webhooks"],
            "summary": "Change url, event_types or active",
            "requestBody": _BODY,
            "responses": {
                "200": _ok("The endpoint", _results(ENDPOINT)),
                **_errors(400, 401, 404, 422),
            },
        },
        "delete": {
            "tags": ["Webhooks"],
            "summary": "Delete an endpoint and its queue",
            "responses": {"204": {"description": "Deleted"}, **_errors(401, 404)},
        },
    },
}
