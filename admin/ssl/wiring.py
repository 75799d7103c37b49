"""Putting TLS together from the settings: issuer, proof, provisioner, challenge responder.

``EDGE_TLS=builtin`` (the default): certificates from ``EDGE_ACME_DIRECTORY`` when set, else
from the local CA in the data directory; the edge answers HTTP-01 challenges itself.
``EDGE_TLS=external``: no certificates are issued here (Caddy or a balancer terminates TLS and
asks ``GET /internal/tls-allowed?domain=...`` before getting one on demand); a verified domain
becomes ``active`` once an HTTPS request through the terminator verifies and reaches this edge.

Also the ``ask`` endpoint itself, answered from the in-memory domain table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_address
from typing import Annotated

from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from admin.api.contracts import META
from admin.outbound.client import Outbound
from admin.ssl.challenges import ChallengeBoard, ChallengeResponder
from admin.ssl.https_proof import HttpsProof
from admin.ssl.issuance import CertificateIssuer
from admin.ssl.lifecycle import CertificateManager
from admin.ssl.local_ca import LocalCA
from edge.config import Settings
from edge.hosts import normalise_host
from edge.serving.server import Runtime


@dataclass
class TlsParts:
    manager: CertificateManager
    responder: ChallengeResponder


def build_issuer(runtime: Runtime, board: ChallengeBoard) -> CertificateIssuer:
    settings = runtime.settings
    if settings.acme_directory:
        from admin.ssl.acme import AcmeAccountConfig, AcmeIssuer

        config = AcmeAccountConfig(
            directory=settings.acme_directory,
            email=settings.acme_email,
            eab_kid=settings.acme_eab_kid,
            eab_hmac=settings.acme_eab_hmac,
            ca_bundle=settings.acme_ca_bundle,
        )
        return AcmeIssuer(config, settings.data_dir / "acme", board)
    return LocalCA(settings.data_dir / "local-ca")


def build_tls(runtime: Runtime) -> TlsParts:
    settings = runtime.settings
    board = ChallengeBoard(runtime.store)
    responder = ChallengeResponder(runtime.store)
    issuer = build_issuer(runtime, board) if settings.tls_mode == "builtin" else None
    proof = HttpsProof(
        Outbound.for_verification(settings),
        runtime.codec.domain_proof,
        port=settings.https_verify_port,
    )
    manager = CertificateManager(
        runtime.store,
        issuer,
        proof,
        default_domain=_default_certificate_name(settings),
        renew_before=timedelta(days=settings.ssl_renew_days),
        retry_base=settings.ssl_retry_base,
        retry_max=settings.ssl_retry_max,
        check_interval=settings.ssl_check_interval,
    )
    return TlsParts(manager, responder)


def _default_certificate_name(settings: Settings) -> str | None:
    """The default domain, when the configured CA can certify it.

    ACME CAs issue for DNS names over HTTP-01 (an IP literal, the development default, is
    left out); the local CA certifies IP addresses too.
    """
    name = settings.default_domain
    if settings.acme_directory:
        try:
            ip_address(name)
            return None
        except ValueError:
            pass
    return name


class TlsAsk(Struct):
    domain: Annotated[str | None, Meta(description="the name a certificate is asked for")] = None


@META(
    "On-demand TLS 'ask' (Caddy): 200 for a served tracking domain, else 404",
    content={"text/plain": str},
    responses={404: {"text/plain": str}},
)
async def tls_allowed(request: Request, query: TlsAsk) -> PlainTextResponse:
    """``GET /internal/tls-allowed?domain=...``: may a TLS terminator get a certificate?

    Caddy's on-demand TLS ``ask``: 200 for a verified, unblocked tracking domain (or the
    default domain), 404 for anything else. One dict lookup, no database read.
    """
    runtime: Runtime = request.app.state.runtime
    host = normalise_host(query.domain or "")
    if host and runtime.domains.served(host) is not None:
        return PlainTextResponse("allowed\n", headers={"cache-control": "no-store"})
    return PlainTextResponse("not a served tracking domain\n", status_code=404)
