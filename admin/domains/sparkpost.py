"""The SparkPost dialect: ``/api/v1/tracking-domains``, keyed by domain name (seed 001).

A thin translation: read the request, call :class:`~admin.domains.DomainService`, shape the
answer as SparkPost does (models in :mod:`admin.domains.contracts`). Errors are rendered by
the admin app as ``{"errors": [{"code", "message", "description"}]}`` (:mod:`admin.api.errors`).
"""

from __future__ import annotations

from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.accounts.service import Account
from admin.api.contracts import Operations, Results
from admin.domains.contracts import (
    SparkPostCreate,
    SparkPostDomainName,
    SparkPostStatus,
    SparkPostTrackingDomain,
    SparkPostUpdate,
)
from admin.domains.service import DomainService
from edge.model.domains import TrackingDomain

PREFIX = "/api/v1/tracking-domains"

op = Operations("SparkPost tracking domains", auth=authenticate)


def _service(request: Request) -> DomainService:
    service: DomainService = request.app.state.services.domains
    return service


def status(domain: TrackingDomain) -> SparkPostStatus:
    return SparkPostStatus(domain.verified, domain.cname_status, domain.compliance_status)


def view(domain: TrackingDomain) -> SparkPostTrackingDomain:
    return SparkPostTrackingDomain(
        domain.port, domain.domain, domain.secure, domain.is_default, status(domain)
    )


class TrackingDomains(HTTPEndpoint):
    @op("Create a tracking domain", errors=(409,))
    async def post(
        self, request: Request, account: Account, body: SparkPostCreate
    ) -> Results[SparkPostDomainName]:
        created = await _service(request).create(
            account, body.domain, secure=body.secure or False, default=body.default or False
        )
        return Results(SparkPostDomainName(created.domain))

    @op("List the account's tracking domains")
    async def get(
        self, request: Request, account: Account
    ) -> Results[list[SparkPostTrackingDomain]]:
        domains = await _service(request).list(account)
        return Results([view(d) for d in domains])


class TrackingDomainByName(HTTPEndpoint):
    @op("Retrieve a tracking domain", errors=(404,))
    async def get(
        self, request: Request, account: Account, domain: str
    ) -> Results[SparkPostTrackingDomain]:
        return Results(view(await _service(request).get(account, domain)))

    @op("Update secure and default (making a domain default moves the default)", errors=(404,))
    async def put(
        self, request: Request, account: Account, body: SparkPostUpdate, domain: str
    ) -> Results[SparkPostDomainName]:
        updated = await _service(request).update(
            account, domain, secure=body.secure, default=body.default
        )
        return Results(SparkPostDomainName(updated.domain))

    @op("Delete a tracking domain (409 while sending domains use it)", status=204,
        errors=(404, 409))  # fmt: skip
    async def delete(self, request: Request, account: Account, domain: str) -> None:
        await _service(request).delete(account, domain)


class VerifyTrackingDomain(HTTPEndpoint):
    @op("Check the CNAME, then that the domain reaches this edge (else 1404)", errors=(400, 404))
    async def post(
        self, request: Request, account: Account, domain: str
    ) -> Results[SparkPostStatus]:
        return Results(status(await _service(request).verify(account, domain)))


routes = [
    Route(PREFIX, TrackingDomains),
    Route(PREFIX + "/{domain}", TrackingDomainByName),
    Route(PREFIX + "/{domain}/verify", VerifyTrackingDomain),
]
