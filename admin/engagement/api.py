"""Engagement routes of the admin API: stats, privacy switches, message labels, webhooks.

Every route authenticates first (:func:`admin.auth.authenticate`) and is scoped to the
caller's account; errors use the admin API's shape (:mod:`admin.errors`). The events list
and export are in :mod:`admin.events_api`.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts.auth import authenticate
from admin.api import query_params as qp
from admin.api.errors import InvalidData, NotFound
from admin.api.payloads import json_object
from admin.api.routing import resource
from admin.engagement.service import Engagement
from admin.engagement.stats import StatsError, StatsQuery, run_stats
from admin.engagement.webhooks import WebhookError
from edge.model.privacy import IP_MODES, UA_MODES

PREFIX = "/api/v1/engagement"


def _engagement(request: Request) -> Engagement:
    return request.app.state.engagement


async def stats(request: Request) -> JSONResponse:
    account = await authenticate(request)
    start = qp.time_ms(request, "from", required=True)
    end = qp.time_ms(request, "to") or int(time.time() * 1000)
    group_by = qp.text(request, "group_by")
    try:
        query = StatsQuery.aligned(
            account.id,
            start,  # type: ignore[arg-type]
            end,
            group_by=group_by,
            domain=qp.text(request, "domain"),
            message=qp.text(request, "message"),
            campaign=qp.text(request, "campaign"),
            tag=qp.text(request, "tag"),
            link=qp.text(request, "link"),
            include_machine=qp.boolean(request, "include_machine"),
            top_links=qp.integer(request, "top_links", 10, 0, 100),
        )
    except StatsError as exc:
        raise InvalidData(str(exc), field=exc.field) from None
    engagement = _engagement(request)
    await engagement.rollup.catch_up()  # count everything stored before this request
    return JSONResponse({"results": await run_stats(engagement.reader, query)})


# -- privacy and tracking switches ----------------------------------------------------------

_SETTINGS_FIELDS = ("client_ip", "user_agent", "track_opens", "track_clicks")


async def _settings(engagement: Engagement, account_id: int) -> dict:
    row = await engagement.admin_db.fetchone(
        f"SELECT {', '.join(_SETTINGS_FIELDS)} FROM account_settings WHERE account_id = ?",
        (account_id,),
    )
    row = row or ("full", "full", 1, 1)
    return {
        "client_ip": row[0],
        "user_agent": row[1],
        "track_opens": bool(row[2]),
        "track_clicks": bool(row[3]),
    }


async def get_settings(request: Request) -> JSONResponse:
    account = await authenticate(request)
    return JSONResponse({"results": await _settings(_engagement(request), account.id)})


async def put_settings(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    engagement = _engagement(request)
    current = await _settings(engagement, account.id)
    for field, allowed in (("client_ip", IP_MODES), ("user_agent", UA_MODES)):
        if field in body:
            if body[field] not in allowed:
                raise InvalidData(f"'{field}' must be one of {', '.join(allowed)}", field=field)
            current[field] = body[field]
    for field in ("track_opens", "track_clicks"):
        if field in body:
            if not isinstance(body[field], bool):
                raise InvalidData(f"'{field}' must be true or false", field=field)
            current[field] = body[field]
    async with engagement.admin_db.transaction() as conn:
        await conn.execute(
            "INSERT INTO account_settings (account_id, client_ip, user_agent, track_opens, "
            "track_clicks) VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET "
            "client_ip = excluded.client_ip, user_agent = excluded.user_agent, "
            "track_opens = excluded.track_opens, track_clicks = excluded.track_clicks, "
            "updated_at = CAST(strftime('%s', 'now') AS INTEGER)",
            (
                account.id,
                current["client_ip"],
                current["user_agent"],
                int(current["track_opens"]),
                int(current["track_clicks"]),
            ),
        )
    if engagement.ingest is not None:
        engagement.ingest.settings_changed()  # this worker at once; others within a second
    return JSONResponse({"results": current})


# -- campaign and tags of a message ---------------------------------------------------------


async def _labels(engagement: Engagement, account_id: int, message: str) -> dict:
    rows = await engagement.admin_db.fetchall(
        "SELECT kind, label FROM message_labels WHERE account_id = ? AND message = ? "
        "ORDER BY kind, label",
        (account_id, message),
    )
    campaign = next((label for kind, label in rows if kind == "campaign"), None)
    return {
        "message": message,
        "campaign": campaign,
        "tags": [label for kind, label in rows if kind == "tag"],
    }


async def get_labels(request: Request) -> JSONResponse:
    account = await authenticate(request)
    message = request.path_params["message"]
    return JSONResponse({"results": await _labels(_engagement(request), account.id, message)})


async def put_labels(request: Request) -> JSONResponse:
    account = await authenticate(request)
    message = request.path_params["message"]
    body = await json_object(request)
    campaign = body.get("campaign")
    tags = body.get("tags", [])
    if campaign is not None and (not isinstance(campaign, str) or not campaign):
        raise InvalidData("'campaign' must be a non-empty string", field="campaign")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise InvalidData("'tags' must be a list of non-empty strings", field="tags")
    engagement = _engagement(request)
    async with engagement.admin_db.transaction() as conn:
        await conn.execute(
            "DELETE FROM message_labels WHERE account_id = ? AND message = ?",
            (account.id, message),
        )
        labels = [("tag", t) for t in dict.fromkeys(tags)]
        if campaign is not None:
            labels.append(("campaign", campaign))
        await conn.executemany(
            "INSERT INTO message_labels (account_id, kind, label, message) VALUES (?, ?, ?, ?)",
            [(account.id, kind, label, message) for kind, label in labels],
        )
    return JSONResponse({"results": await _labels(engagement, account.id, message)})


# -- webhooks -------------------------------------------------------------------------------


def _endpoint_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError:
        raise NotFound(request.path_params["id"]) from None


async def list_webhooks(request: Request) -> JSONResponse:
    account = await authenticate(request)
    endpoints = await _engagement(request).endpoints.list(account.id)
    return JSONResponse({"results": [e.to_json() for e in endpoints]})


async def create_webhook(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    try:
        endpoint, secret = await _engagement(request).endpoints.create(
            account.id, body.get("url"), body.get("event_types")
        )
    except WebhookError as exc:
        raise InvalidData(str(exc), field=exc.field) from None
    # The secret is shown here only: receivers verify signatures with it.
    return JSONResponse({"results": {**endpoint.to_json(), "secret": secret}}, status_code=201)


async def get_webhook(request: Request) -> JSONResponse:
    account = await authenticate(request)
    endpoint = await _engagement(request).endpoints.get(account.id, _endpoint_id(request))
    if endpoint is None:
        raise NotFound(request.path_params["id"])
    return JSONResponse({"results": endpoint.to_json()})


async def update_webhook(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    try:
        endpoint = await _engagement(request).endpoints.update(
            account.id,
            _endpoint_id(request),
            url=body.get("url"),
            event_types=body.get("event_types"),
            active=body.get("active"),
        )
    except WebhookError as exc:
        raise InvalidData(str(exc), field=exc.field) from None
    if endpoint is None:
        raise NotFound(request.path_params["id"])
    return JSONResponse({"results": endpoint.to_json()})


async def delete_webhook(request: Request) -> Response:
    account = await authenticate(request)
    if not await _engagement(request).endpoints.delete(account.id, _endpoint_id(request)):
        raise NotFound(request.path_params["id"])
    return Response(status_code=204)


routes = [
    resource(f"{PREFIX}/stats", GET=stats),
    resource(f"{PREFIX}/settings", GET=get_settings, PUT=put_settings),
    resource(f"{PREFIX}/messages/{{message}}", GET=get_labels, PUT=put_labels),
    resource("/api/v1/webhooks", GET=list_webhooks, POST=create_webhook),
    resource("/api/v1/webhooks/{id}", GET=get_webhook, PATCH=update_webhook, DELETE=delete_webhook),
]
