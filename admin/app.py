"""The admin API, served only on ``EDGE_ADMIN_HOST``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from admin.errors import AdminError, render
from admin.services import AdminServices
from edge import __version__
from edge.server import Runtime


async def health(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "events_spilling": runtime.recorder.spilling,
        }
    )


async def admin_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AdminError)
    return render(request.url.path, exc)


def create_admin_app(runtime: Runtime, services: AdminServices) -> Starlette:
    app = Starlette(
        routes=[Route("/healthz", health)],
        exception_handlers={AdminError: admin_error},
    )
    app.state.runtime = runtime
    app.state.services = services
    app.state.accounts = services.accounts
    return app
