"""Engagement routes of the admin API: stats, privacy switches, message labels, webhooks.

Every route authenticates first and is scoped to the caller's account; errors use the admin
API's shape (:mod:`admin.api.errors`); models are in :mod:`admin.engagement.contracts`. The
events list and export are in :mod:`admin.engagement.events_api`.
"""

from __future__ import annotations

import time
from typing import Any, cast

from msgspec import UNSET
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.api.contracts import Operations, Results, RowId, Text
from admin.api.errors import InvalidData, NotFound
from admin.api.timestamps import epoch_ms
from admin.engagement.contracts import (
    DeliveryStatus,
    EventType,
    Labels,
    LabelsChange,
    Settings,
    SettingsChange,
    Stats,
    StatsParams,
    WebhookChange,
    WebhookCreate,
    WebhookEndpoint,
    WebhookTest,
)
from admin.engagement.service import Engagement
from admin.engagement.stats import StatsError, StatsQuery
from admin.engagement.webhooks.endpoints import WebhookError
from edge.model.accounts import Account
from edge.model.labels import MessageLabels
from edge.model.privacy import PrivacySettings
from edge.model.webhooks import Endpoint

PREFIX = "/api/v1/engagement"

op = Operations("Engagement", auth=authenticate)
webhook_op = Operations("Webhooks", auth=authenticate)


def _engagement(request: Request) -> Engagement:
    engagement: Engagement = request.app.state.engagement
    return engagement


class StatsRoute(HTTPEndpoint):
    @op("Totals, time series and top links for a time range", answer=Results[Stats])
    async def get(
        self, request: Request, account: Account, query: StatsParams
    ) -> Results[dict[str, Any]]:
        # ``is None``: the epoch itself is a time too (0 ms, falsy).
        end = epoch_ms(query.end) if query.end is not None else int(time.time() * 1000)
        try:
            stats_query = StatsQuery.aligned(
                account.id,
                epoch_ms(query.start),
                end,
                group_by=query.group_by,
                domain=query.domain,
                message=query.message,
                campaign=query.campaign,
                tag=query.tag,
                link=query.link,
                include_machine=query.include_machine,
                top_links=query.top_links,
            )
        except StatsError as exc:
            raise InvalidData(str(exc), field=exc.field) from None
        return Results(await _engagement(request).stats(stats_query))


# -- privacy and tracking switches ----------------------------------------------------------

_SETTINGS_FIELDS = ("client_ip", "user_agent", "track_opens", "track_clicks")


def _settings_view(settings: PrivacySettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in _SETTINGS_FIELDS}


class SettingsRoute(HTTPEndpoint):
    @op("The account's privacy and tracking switches", answer=Results[Settings])
    async def get(self, request: Request, account: Account) -> Results[dict[str, Any]]:
        return Results(_settings_view(await _engagement(request).privacy(account.id)))

    @op("Change privacy and tracking switches (fields not given are kept)",
        answer=Results[Settings])  # fmt: skip
    async def put(
        self, request: Request, account: Account, body: SettingsChange
    ) -> Results[dict[str, Any]]:
        changes = {
            name: value for name in _SETTINGS_FIELDS if (value := getattr(body, name)) is not UNSET
        }
        settings = await _engagement(request).change_privacy(account.id, **changes)
        return Results(_settings_view(settings))


# -- campaign and tags of a message ---------------------------------------------------------


def _labels_view(labels: MessageLabels) -> Labels:
    return Labels(labels.message, labels.campaign, list(labels.tags))


class LabelsRoute(HTTPEndpoint):
    @op("Campaign and tags of a message")
    async def get(self, request: Request, account: Account, message: Text) -> Results[Labels]:
        async with _engagement(request).store.reading() as db:
            return Results(_labels_view(await db.labels.get(account.id, message)))

    @op("Set the campaign and tags of a message (replaces them)")
    async def put(
        self, request: Request, account: Account, body: LabelsChange, message: Text
    ) -> Results[Labels]:
        async with _engagement(request).store.transaction() as tx:
            changed = MessageLabels(message, body.campaign, tuple(body.tags))
            await tx.labels.replace(account.id, changed)
            return Results(_labels_view(await tx.labels.get(account.id, message)))


# -- webhooks -------------------------------------------------------------------------------


def endpoint_view(endpoint: Endpoint, secret: str | None = None) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        # Stored as check_types() let them through: values of EVENT_TYPES.
        event_types=cast(list[EventType], list(endpoint.event_types)),
        active=endpoint.active,
        created_at=endpoint.created_at,
        secret=UNSET if secret is None else secret,
        status=DeliveryStatus(
            endpoint.backlog,
            endpoint.delivered,
            endpoint.expired,
            endpoint.failures,
            endpoint.retry_at_ms or None,
            endpoint.last_success_ms,
            endpoint.last_error_ms,
            endpoint.last_error,
        ),
    )


class Webhooks(HTTPEndpoint):
    @webhook_op("Webhook endpoints with their delivery status")
    async def get(self, request: Request, account: Account) -> Results[list[WebhookEndpoint]]:
        endpoints = await _engagement(request).endpoints.list(account.id)
        return Results([endpoint_view(e) for e in endpoints])

    @webhook_op("Register an endpoint (url, event_types); the answer holds its secret",
                status=201)  # fmt: skip
    async def post(
        self, request: Request, account: Account, body: WebhookCreate
    ) -> Results[WebhookEndpoint]:
        try:
            endpoint, secret = await _engagement(request).endpoints.create(
                account.id, body.url, body.event_types
            )
        except WebhookError as exc:
            raise InvalidData(str(exc), field=exc.field) from None
        # The secret is shown here only: receivers verify signatures with it.
        return Results(endpoint_view(endpoint, secret))


class Webhook(HTTPEndpoint):
    @webhook_op("One endpoint and its delivery status")
    async def get(self, request: Request, account: Account, id: RowId) -> Results[WebhookEndpoint]:
        endpoint = await _engagement(request).endpoints.get(account.id, id)
        if endpoint is None:
            raise NotFound(request.path_params["id"])
        return Results(endpoint_view(endpoint))

    @webhook_op("Change url, event_types or active")
    async def patch(
        self, request: Request, account: Account, body: WebhookChange, id: RowId
    ) -> Results[WebhookEndpoint]:
        try:
            endpoint = await _engagement(request).endpoints.update(
                account.id, id, url=body.url, event_types=body.event_types, active=body.active
            )
        except WebhookError as exc:
            raise InvalidData(str(exc), field=exc.field) from None
        if endpoint is None:
            raise NotFound(request.path_params["id"])
        return Results(endpoint_view(endpoint))

    @webhook_op("Delete an endpoint and its queue", status=204)
    async def delete(self, request: Request, account: Account, id: RowId) -> None:
        if not await _engagement(request).endpoints.delete(account.id, id):
            raise NotFound(request.path_params["id"])


class WebhookTestRoute(HTTPEndpoint):
    @webhook_op("Send a signed test batch to the endpoint now (queue and status unchanged)")
    async def post(self, request: Request, account: Account, id: RowId) -> Results[WebhookTest]:
        try:
            error = await _engagement(request).delivery.send_test(account.id, id)
        except LookupError:
            raise NotFound(request.path_params["id"]) from None
        return Results(WebhookTest(error is None, error))


routes = [
    Route(f"{PREFIX}/stats", StatsRoute),
    Route(f"{PREFIX}/settings", SettingsRoute),
    Route(f"{PREFIX}/messages/{{message}}", LabelsRoute),
    Route("/api/v1/webhooks", Webhooks),
    Route("/api/v1/webhooks/{id}", Webhook),
    Route("/api/v1/webhooks/{id}/test", WebhookTestRoute),
]
