"""The SparkPost dialect: ``/api/v1/tracking-domains``, keyed by domain name (seed 001).

A thin translation: read the request, call :class:`~admin.domains.DomainService`, shape the
answer as SparkPost does. Errors are rendered by the admin app as
``{"errors": [{"code", "message", "description"}]}`` (:mod:`admin.errors`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.accounts.auth import authenticate
from admin.api.payloads import json_object, optional_bool
from admin.api.routing import resource
from admin.domains.service import DomainService, TrackingDomain

PREFIX = "/api/v1/tracking-domains"


def _service(request: Request) -> DomainService:
    return request.app.state.services.domains


def status(domain: TrackingDomain) -> dict:
    return {
        "verified": domain.verified,
        "cname_status": domain.cname_status,
        "compliance_status": domain.compliance_status,
    }


def view(domain: TrackingDomain) -> dict:
    return {
        "port": domain.port,
        "domain": domain.domain,
        "secure": domain.secure,
        "default": domain.is_default,
        "status": status(domain),
    }


async def create(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    secure = optional_bool(body, "secure") or False
    default = optional_bool(body, "default") or False
    created = await _service(request).create(
        account, body.get("domain"), secure=secure, default=default
    )
    return JSONResponse({"results": {"domain": created.domain}})


async def list_domains(request: Request) -> JSONResponse:
    account = await authenticate(request)
    domains = await _service(request).list(account)
    return JSONResponse({"results": [view(d) for d in domains]})


async def retrieve(request: Request) -> JSONResponse:
    account = await authenticate(request)
    found = await _service(request).get(account, request.path_params["domain"])
    return JSONResponse({"results": view(found)})


async def update(request: Request) -> JSONResponse:
    account = await authenticate(request)
    body = await json_object(request)
    updated = await _service(request).update(
        account,
        request.path_params["domain"],
        secure=optional_bool(body, "secure"),
        default=optional_bool(body, "default"),
    )
    return JSONResponse({"results": {"domain": updated.domain}})


async def delete(request: Request) -> Response:
    account = await authenticate(request)
    await _service(request).delete(account, request.path_params["domain"])
    return Response(status_code=204)


async def verify(request: Request) -> JSONResponse:
    account = await authenticate(request)
    verified = await _service(request).verify(account, request.path_params["domain"])
    return JSONResponse({"results": status(verified)})


routes = [
    resource(PREFIX, GET=list_domains, POST=create),
    resource(PREFIX + "/{domain}", GET=retrieve, PUT=update, DELETE=delete),
    resource(PREFIX + "/{domain}/verify", POST=verify),
]
