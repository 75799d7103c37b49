"""The Mailerlogic (customer) dialect: ``/api/v1/customer/...``, keyed by numeric id (seed 000).

A thin translation over :class:`~admin.domains.DomainService` and
:class:`~admin.sending.SendingDomains`. Every answer is ``{"data": ...}``; every error is
``{"error": {"status", "code", "message", "field"?}}`` (:mod:`admin.errors`). Times are
ISO 8601 in UTC. The README's "Mailerlogic dialect" section documents the shapes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts.auth import authenticate
from admin.api.errors import MissingField, NotFound
from admin.api.payloads import is_id, json_object, optional_bool, optional_id
from admin.api.routing import resource
from admin.api.timestamps import iso_utc
from admin.domains.provisioning import SslInfo
from admin.domains.sending import SendingDomain, SendingDomains
from admin.domains.service import DomainService, TrackingDomain

TRACKING = "/api/v1/customer/tracking-domains"
SENDING = "/api/v1/customer/domains"


def _domains(request: Request) -> DomainService:
    return request.app.state.services.domains


def _sending(request: Request) -> SendingDomains:
    return request.app.state.services.sending


def _id(request: Request) -> int:
    raw = request.path_params["id"]
    # Ids are positive decimal integers that fit a row id; anything else names nothing.
    # (The length check comes first: int() of thousands of digits is slow, then refused.)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not is_id(int(raw)):
        raise NotFound(raw)
    return int(raw)


def dns_record(domain: TrackingDomain, target: str) -> dict:
    return {"name": domain.domain, "type": "CNAME", "target": target}


def tracking_view(domain: TrackingDomain, target: str) -> dict:
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
        "ssl_status": domain.ssl_status,
        "dns_record": dns_record(domain, target),
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


def ssl_view(domain: TrackingDomain, info: SslInfo) -> dict:
    return {
        "id": domain.id,
        "domain": domain.domain,
        "status": info.status,
        "issuer": info.issuer,
        "not_before": iso_utc(info.not_before),
        "not_after": iso_utc(info.not_after),
        "renew_at": iso_utc(info.renew_at),
        "reason": info.reason,
    }


def sending_view(domain: SendingDomain) -> dict:
    return {
        "id": domain.id,
        "domain": domain.domain,
        "tracking_domain_id": domain.tracking_domain_id,
        "tracking_domain": domain.tracking_domain,
        "created_at": iso_utc(domain.created_at),
        "updated_at": iso_utc(domain.updated_at),
    }


def _data(request: Request, domain: TrackingDomain, status: int = 200) -> JSONResponse:
    target = _domains(request).cname_target
    return JSONResponse({"data": tracking_view(domain, target)}, status_code=status)


# -- tracking domains ---------------------------------------------------------------------------


async def create_tracking(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    created = await _domains(request).create(
        account, body.get("domain"), secure=optional_bool(body, "secure") or False
    )
    return _data(request, created, 201)


async def list_tracking(request: Request) -> JSONResponse:
    account = await authenticate(request)
    target = _domains(request).cname_target
    domains = await _domains(request).list(account)
    return JSONResponse({"data": [tracking_view(d, target) for d in domains]})


async def get_tracking(request: Request) -> JSONResponse:
    account = await authenticate(request)
    service = _domains(request)
    found, ssl = await service.ssl(account, _id(request))
    data = tracking_view(found, service.cname_target)
    data["ssl"] = ssl_view(found, ssl)
    data["dns_instructions"] = instructions(found, service.cname_target)
    return JSONResponse({"data": data})


async def update_tracking(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    if "domain" not in body:
        raise MissingField("domain")
    renamed = await _domains(request).rename(account, _id(request), body["domain"])
    return _data(request, renamed)


async def delete_tracking(request: Request) -> Response:
    account = await authenticate(request)
    await _domains(request).delete(account, _id(request))
    return Response(status_code=204)


async def verify_tracking(request: Request) -> JSONResponse:
    account = await authenticate(request)
    return _data(request, await _domains(request).verify(account, _id(request)))


async def get_ssl(request: Request) -> JSONResponse:
    account = await authenticate(request)
    found, info = await _domains(request).ssl(account, _id(request))
    return JSONResponse({"data": ssl_view(found, info)})


async def provision_ssl(request: Request) -> JSONResponse:
    account = await authenticate(request)
    service = _domains(request)
    found = await service.provision_ssl(account, _id(request))
    found, info = await service.ssl(account, found.id)
    return JSONResponse({"data": ssl_view(found, info)}, status_code=202)


# -- sending domains ----------------------------------------------------------------------------


async def create_sending(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    created = await _sending(request).create(
        account, body.get("domain"), optional_id(body, "tracking_domain_id")
    )
    return JSONResponse({"data": sending_view(created)}, status_code=201)


async def list_sending(request: Request) -> JSONResponse:
    account = await authenticate(request)
    domains = await _sending(request).list(account)
    return JSONResponse({"data": [sending_view(d) for d in domains]})


async def get_sending(request: Request) -> JSONResponse:
    account = await authenticate(request)
    found = await _sending(request).get(account, _id(request))
    return JSONResponse({"data": sending_view(found)})


async def update_sending(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    if "tracking_domain_id" not in body:
        raise MissingField("tracking_domain_id")
    updated = await _sending(request).assign(
        account, _id(request), optional_id(body, "tracking_domain_id")
    )
    return JSONResponse({"data": sending_view(updated)})


async def delete_sending(request: Request) -> Response:
    account = await authenticate(request)
    await _sending(request).delete(account, _id(request))
    return Response(status_code=204)


routes = [
    resource(TRACKING, GET=list_tracking, POST=create_tracking),
    resource(TRACKING + "/{id}", GET=get_tracking, PATCH=update_tracking, DELETE=delete_tracking),
    resource(TRACKING + "/{id}/verify", POST=verify_tracking),
    resource(TRACKING + "/{id}/ssl", GET=get_ssl, POST=provision_ssl),
    resource(SENDING, GET=list_sending, POST=create_sending),
    resource(SENDING + "/{id}", GET=get_sending, PATCH=update_sending, DELETE=delete_sending),
]
