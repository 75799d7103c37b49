"""The admin API, served only on ``EDGE_ADMIN_HOST``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

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


def create_admin_app(runtime: Runtime) -> Starlette:
    app = Starlette(routes=[Route("/healthz", health)])
    app.state.runtime = runtime
    return app
