"""Process entry point: builds the whole app from the environment.

``uvicorn --factory admin.server:create_app`` (and ``tracking-edge serve``) call
:func:`create_app` once per worker process.
"""

from __future__ import annotations

from admin.app import create_admin_app
from admin.database import AdminDatabase
from admin.dns import CnameVerifier
from admin.domains import CnameChecker, ReachChecker
from admin.provisioning import CertificateProvisioner
from admin.reachability import ReachabilityChecker
from admin.services import AdminServices
from edge.config import Settings
from edge.server import EdgeServer, Runtime


def create_app(
    settings: Settings | None = None,
    *,
    cname: CnameChecker | None = None,
    reach: ReachChecker | None = None,
    provisioner: CertificateProvisioner | None = None,
) -> EdgeServer:
    """The whole app; ``cname``, ``reach`` and ``provisioner`` replace the real ones (tests)."""
    runtime = Runtime.build(settings or Settings.from_env())
    settings = runtime.settings
    db = AdminDatabase(settings.database_path)
    services = AdminServices.build(
        settings,
        db=db,
        cname=cname or CnameVerifier.from_settings(settings),
        reach=reach or ReachabilityChecker.from_settings(settings, runtime.codec),
        # Certificate provisioning (issue 4) is connected here (it shares ``db``); without
        # it, verified domains report the stored ssl_status and POST .../ssl answers 503.
        provisioner=provisioner,
    )
    server = EdgeServer(runtime, admin_app=create_admin_app(runtime, services))
    server.on_startup.append(services.start)
    server.on_shutdown.append(services.stop)
    return server
