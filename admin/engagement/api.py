"""Engagement routes of the admin API: stats, privacy switches, message labels, webhooks.

Every route authenticates first (:func:`admin.auth.authenticate`) and is scoped to the
caller's account; errors use the admin API's shape (:mod:`admin.errors`). The events list
and export are in :mod:`admin.events_api`.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts.auth import authenticate
from admin.api import query_params as qp
from admin.api.errors import InvalidData, NotFound
from admin.api.payloads import json_object
from admin.api.routing import resource
from admin.engagement.rendering import endpoint_json
from admin.engagement.service import Engagement
from admin.engagement.stats import StatsError, StatsQuery, run_stats
from admin.engagement.webhooks.endpoints import WebhookError
from edge.db.store import StoreUnavailable
from edge.model.labels import MessageLabels
from edge.model.privacy import IP_MODES, UA_MODES, PrivacySettings

PREFIX = "/api/v1/engagement"
log = logging.getLogger("admin.engagement")


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
    try:
        await engagement.rollup.catch_up()  # count everything stored before this request
    except StoreUnavailable as exc:  # the ingester holds the lock: answer from what is counted
        log.warning("stats answered without catching the roll-ups up: %s", exc)
    return JSONResponse({"results": await run_stats(engagement.store, query)})


# -- privacy and tracking switches ----------------------------------------------------------


def _settings_json(settings: PrivacySettings) -> dict:
    return {
        "client_ip": settings.client_ip,
        "user_agent": settings.user_agent,
        "track_opens": settings.track_opens,
        "track_clicks": settings.track_clicks,
    }


async def get_settings(request: Request) -> JSONResponse:
    account = await authenticate(request)
    async with _engagement(request).store.reading() as db:
        settings = await db.privacy.get(account.id)
    return JSONResponse({"results": _settings_json(settings)})


async def put_settings(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    engagement = _engagement(request)
    async with engagement.store.reading() as db:
        current = _settings_json(await db.privacy.get(account.id))
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
    settings = PrivacySettings(**current)
    async with engagement.store.transaction() as tx:
        await tx.privacy.put(account.id, settings, now=int(time.time()))
    engagement.runtime.settings_changed()  # this worker at once; others within a second
    return JSONResponse({"results": _settings_json(settings)})


# -- campaign and tags of a message ---------------------------------------------------------


def _labels_json(labels: MessageLabels) -> dict:
    return {"message": labels.message, "campaign": labels.campaign, "tags": list(labels.tags)}


async def get_labels(request: Request) -> JSONResponse:
    account = await authenticate(request)
    message = request.path_params["message"]
    async with _engagement(request).store.reading() as db:
        labels = await db.labels.get(account.id, message)
    return JSONResponse({"results": _labels_json(labels)})


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
    async with engagement.store.transaction() as tx:
        await tx.labels.replace(account.id, MessageLabels(message, campaign, tuple(tags)))
        labels = await tx.labels.get(account.id, message)
    return JSONResponse({"results": _labels_json(labels)})


# -- webhooks -------------------------------------------------------------------------------


def _endpoint_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError:
        raise NotFound(request.path_params["id"]) from None


async def list_webhooks(request: Request) -> JSONResponse:
    account = await authenticate(request)
    endpoints = await _engagement(request).endpoints.list(account.id)
    return JSONResponse({"results": [endpoint_json(e) for e in endpoints]})


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
    return JSONResponse({"results": {**endpoint_json(endpoint), "secret": secret}}, status_code=201)


async def get_webhook(request: Request) -> JSONResponse:
    account = await authenticate(request)
    endpoint = await _engagement(request).endpoints.get(account.id, _endpoint_id(request))
    if endpoint is None:
        raise NotFound(request.path_params["id"])
    return JSONResponse({"results": endpoint_json(endpoint)})


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
    return JSONResponse({"results": endpoint_json(endpoint)})


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
