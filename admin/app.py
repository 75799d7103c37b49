"""The admin API and the admin console, served only on ``EDGE_ADMIN_HOST``."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin.api.errors import (
    AdminError,
    HttpError,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    render,
)
from admin.api.openapi import openapi_json
from admin.console.auth import ConsoleAuth
from admin.console.routes import routes as console_routes
from admin.domains import customer as api_customer
from admin.domains import sparkpost as api_sparkpost
from admin.engagement import api as engagement_api
from admin.engagement import erasure as erasure_api
from admin.engagement import events_api
from admin.monitoring.health import health
from admin.monitoring.metrics import metrics
from admin.rewrite import api as rewrite_api
from admin.services import AdminServices
from admin.ssl.wiring import tls_allowed
from edge.db.store import StoreUnavailable
from edge.serving.clientaddr import ClientResolver
from edge.serving.server import Runtime

log = logging.getLogger("admin")
#: Seconds a client is asked to wait before repeating a request the database refused.
RETRY_AFTER_SECONDS = 1


async def admin_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdminError)
    return render(request.url.path, exc)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """A 503 in the dialect's shape: a database down or locked is not the caller's error."""
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    response = render(request.url.path, Unavailable())
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and methods get the dialect's error shape too, not Starlette's text.
    assert isinstance(exc, HTTPException)
    path = request.url.path
    status = exc.status_code
    error: AdminError
    if status == 404:
        error = NotFound(path)
    elif status == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on {path}")
    elif status == 400:
        error = MalformedBody(exc.detail)
    elif status == 413:
        error = PayloadTooLarge(exc.detail)
    else:
        error = HttpError(status, exc.detail)
    response = render(path, error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def create_admin_app(runtime: Runtime, services: AdminServices) -> Starlette:
    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/metrics", metrics),
            Route("/internal/tls-allowed", tls_allowed),
            Route("/api/v1/openapi.json", openapi_json),
            *api_sparkpost.routes,
            *api_customer.routes,
            *rewrite_api.routes,
            *engagement_api.routes,
            *events_api.routes,
            *erasure_api.routes,
            *console_routes,
        ],
        exception_handlers={
            AdminError: admin_error,
            HTTPException: http_error,
            StoreUnavailable: store_unavailable,
        },
    )
    app.state.runtime = runtime
    app.state.services = services
    app.state.accounts = services.accounts
    app.state.console_clients = ClientResolver(runtime.settings.trusted_proxies)
    app.state.console_auth = ConsoleAuth(
        services.store,
        services.accounts,
        runtime.codec,
        lifetime=runtime.settings.console_session_seconds,
        signin_limit=runtime.settings.console_signin_limit,
    )
    return app
