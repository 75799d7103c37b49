"""Process entry point: builds the whole app from the environment.

``uvicorn --factory admin.server:create_app`` (and ``tracking-edge serve``) call
:func:`create_app` once per worker process.
"""

from __future__ import annotations

from admin.app import create_admin_app
from admin.domains.dns import CnameVerifier
from admin.domains.provisioning import CertificateProvisioner
from admin.domains.reachability import ReachabilityChecker
from admin.domains.service import CnameChecker, ReachChecker
from admin.engagement.service import Engagement
from admin.services import AdminServices
from admin.ssl.wiring import build_tls
from edge.config import Settings
from edge.serving.server import EdgeServer, Runtime


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
    tls = build_tls(runtime)
    manager = tls.manager if provisioner is None else None
    services = AdminServices.build(
        settings,
        store=runtime.store,
        cname=cname or CnameVerifier.from_settings(settings),
        reach=reach or ReachabilityChecker.from_settings(settings, runtime.codec),
        # Certificates (admin.ssl). With EDGE_TLS=external nothing is
        # issued: a verified domain is only proven over HTTPS through the terminator.
        provisioner=provisioner or manager,
    )
    admin_app = create_admin_app(runtime, services)
    server = EdgeServer(runtime, admin_app=admin_app)
    server.well_known["acme-challenge"] = tls.responder
    # Engagement data: roll-up, webhook delivery, retention.
    engagement = Engagement(runtime)
    admin_app.state.engagement = engagement
    # Every capability's background work, started after the runtime, stopped in reverse.
    server.lifespans += [services.running, engagement.running]
    if manager is not None:  # issuance, retries and renewals
        server.lifespans.append(manager.running)
    return server
