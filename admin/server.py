"""Process entry point: builds the whole app from the environment.

``uvicorn --factory admin.server:create_app`` (and ``tracking-edge serve``) call
:func:`create_app` once per worker process.
"""

from __future__ import annotations

from admin.app import create_admin_app
from admin.services import AdminServices
from edge.config import Settings
from edge.server import EdgeServer, Runtime


def create_app(settings: Settings | None = None) -> EdgeServer:
    runtime = Runtime.build(settings or Settings.from_env())
    services = AdminServices.build(runtime)
    server = EdgeServer(runtime, admin_app=create_admin_app(runtime, services))
    server.on_startup.append(services.start)
    server.on_shutdown.append(services.stop)
    return server
