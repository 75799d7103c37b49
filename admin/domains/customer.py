"""The Mailerlogic (customer) dialect: ``/api/v1/customer/...``, keyed by numeric id (seed 000).

A thin translation over :class:`~admin.domains.DomainService` and
:class:`~admin.sending.SendingDomains`. Every answer is ``{"data": ...}``; every error is
``{"error": {"status", "code", "message", "field"?}}`` (:mod:`admin.api.errors`). Times are
ISO 8601 in UTC. Models are in :mod:`admin.domains.contracts`; the README's "Mailerlogic
dialect" section documents the shapes.
"""

from __future__ import annotations

from typing import Any

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.accounts.service import Account
from admin.api.contracts import Data, Operations, RowId
from admin.api.timestamps import iso_utc
from admin.domains import contracts as wire
from admin.domains.provisioning import SslInfo
from admin.domains.sending import SendingDomain, SendingDomains
from admin.domains.service import DomainService
from edge.model.domains import TrackingDomain

TRACKING = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"

tracking_op = Operations("Mailerlogic tracking domains", auth=authenticate)
sending_op = Operations("Mailerlogic sending domains", auth=authenticate)


def _domains(request: Request) -> DomainService:
    service: DomainService = request.app.state.services.domains
    return service


def _sending(request: Request) -> SendingDomains:
    service: SendingDomains = request.app.state.services.sending
    return service


def tracking_view(domain: TrackingDomain, target: str) -> wire.TrackingDomain:
    return wire.TrackingDomain(**_tracking_fields(domain, target))


def _tracking_fields(domain: TrackingDomain, target: str) -> dict[str, Any]:
    return {
        "id": domain.id,
        "domain": domain.domain,
        "secure": domain.secure,
        "default": domain.is_default,
        "verified": domain.verified,
        "verification_status": domain.cname_status,
        "verification_reason": domain.cname_reason,
        "last_checked_at": iso_utc(domain.checked_at),
        "compliance_status": domain.compliance_status,
        "ssl_status": domain.reported_ssl_status,
        "dns_record": wire.DnsRecord(domain.domain, "CNAME", target),
        "created_at": iso_utc(domain.created_at),
        "updated_at": iso_utc(domain.updated_at),
    }


def instructions(domain: TrackingDomain, target: str) -> list[str]:
    return [
        f"Add a DNS record: {domain.domain}. CNAME {target}.",
        f"Wait for DNS propagation (usually 5-30 minutes); check with: dig CNAME {domain.domain}",
        f"Verify: POST {TRACKING}/{domain.id}/verify",
        f"An SSL certificate is then provisioned; follow it with GET {TRACKING}/{domain.id}/ssl",
        f"Assign the tracking domain to sending domains: PATCH {SENDING}/{{id}} "
        f'with {{"tracking_domain_id": {domain.id}}}',
    ]


def ssl_view(domain: TrackingDomain, info: SslInfo) -> wire.Ssl:
    return wire.Ssl(
        domain.id,
        domain.domain,
        info.status,
        info.issuer,
        iso_utc(info.not_before),
        iso_utc(info.not_after),
        iso_utc(info.renew_at),
        info.reason,
    )


def sending_view(domain: SendingDomain) -> wire.SendingDomain:
    return wire.SendingDomain(
        domain.id,
        domain.domain,
        domain.tracking_domain_id,
        domain.tracking_domain,
        iso_utc(domain.created_at),
        iso_utc(domain.updated_at),
    )


def _data(request: Request, account: Account, domain: TrackingDomain) -> Data[wire.TrackingDomain]:
    return Data(tracking_view(domain, _domains(request).target_for(account)))


# -- tracking domains ---------------------------------------------------------------------------


class TrackingDomains(HTTPEndpoint):
    @tracking_op("Create a tracking domain; the answer carries the CNAME record to add",
                 status=201, errors=(409,))  # fmt: skip
    async def post(
        self, request: Request, account: Account, body: wire.CreateTrackingDomain
    ) -> Data[wire.TrackingDomain]:
        created = await _domains(request).create(account, body.domain, secure=body.secure or False)
        return _data(request, account, created)

    @tracking_op("List the account's tracking domains")
    async def get(self, request: Request, account: Account) -> Data[list[wire.TrackingDomain]]:
        target = _domains(request).target_for(account)
        domains = await _domains(request).list(account)
        return Data([tracking_view(d, target) for d in domains])


class TrackingDomainById(HTTPEndpoint):
    @tracking_op("Get a tracking domain with DNS set-up instructions and SSL status")
    async def get(
        self, request: Request, account: Account, id: RowId
    ) -> Data[wire.TrackingDomainDetail]:
        service = _domains(request)
        found, ssl = await service.ssl(account, id)
        target = service.target_for(account)
        return Data(
            wire.TrackingDomainDetail(
                **_tracking_fields(found, target),
                ssl=ssl_view(found, ssl),
                dns_instructions=instructions(found, target),
            )
        )

    @tracking_op("Rename (resets verification and SSL)", errors=(409,))
    async def patch(
        self, request: Request, account: Account, body: wire.RenameTrackingDomain, id: RowId
    ) -> Data[wire.TrackingDomain]:
        return _data(request, account, await _domains(request).rename(account, id, body.domain))

    @tracking_op("Delete (409 domain_in_use while sending domains use it)", status=204,
                 errors=(409,))  # fmt: skip
    async def delete(self, request: Request, account: Account, id: RowId) -> None:
        await _domains(request).delete(account, id)


class VerifyTrackingDomain(HTTPEndpoint):
    @tracking_op("Verify the CNAME and reachability; on success SSL provisioning starts",
                 errors=(400,))  # fmt: skip
    async def post(
        self, request: Request, account: Account, id: RowId
    ) -> Data[wire.TrackingDomain]:
        return _data(request, account, await _domains(request).verify(account, id))


class Certificate(HTTPEndpoint):
    @tracking_op("SSL certificate status")
    async def get(self, request: Request, account: Account, id: RowId) -> Data[wire.Ssl]:
        found, info = await _domains(request).ssl(account, id)
        return Data(ssl_view(found, info))

    @tracking_op("(Re-)issue the certificate in the background; verified domains only",
                 status=202, errors=(422, 503))  # fmt: skip
    async def post(self, request: Request, account: Account, id: RowId) -> Data[wire.Ssl]:
        service = _domains(request)
        found = await service.provision_ssl(account, id)
        found, info = await service.ssl(account, found.id)
        return Data(ssl_view(found, info))


# -- sending domains ----------------------------------------------------------------------------


class SendingDomainList(HTTPEndpoint):
    @sending_op("Create a sending domain", status=201, errors=(409,))
    async def post(
        self, request: Request, account: Account, body: wire.CreateSendingDomain
    ) -> Data[wire.SendingDomain]:
        created = await _sending(request).create(account, body.domain, body.tracking_domain_id)
        return Data(sending_view(created))

    @sending_op("List sending domains")
    async def get(self, request: Request, account: Account) -> Data[list[wire.SendingDomain]]:
        return Data([sending_view(d) for d in await _sending(request).list(account)])


class SendingDomainById(HTTPEndpoint):
    @sending_op("Get a sending domain")
    async def get(self, request: Request, account: Account, id: RowId) -> Data[wire.SendingDomain]:
        return Data(sending_view(await _sending(request).get(account, id)))

    @sending_op("Assign a tracking domain (null: the default)")
    async def patch(
        self, request: Request, account: Account, body: wire.AssignTrackingDomain, id: RowId
    ) -> Data[wire.SendingDomain]:
        updated = await _sending(request).assign(account, id, body.tracking_domain_id)
        return Data(sending_view(updated))

    @sending_op("Delete a sending domain", status=204)
    async def delete(self, request: Request, account: Account, id: RowId) -> None:
        await _sending(request).delete(account, id)


routes = [
    Route(TRACKING, TrackingDomains),
    Route(TRACKING + "/{id}", TrackingDomainById),
    Route(TRACKING + "/{id}/verify", VerifyTrackingDomain),
    Route(TRACKING + "/{id}/ssl", Certificate),
    Route(SENDING, SendingDomainList),
    Route(SENDING + "/{id}", SendingDomainById),
]
