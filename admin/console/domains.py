"""Tracking domains: the list (badges refreshed by htmx while a check or an issuance runs),
add, verify, rename, default, delete, the SSL panel, and sending domains' assignment.

Every action is a call of :class:`~admin.domains.service.DomainService` or
:class:`~admin.domains.sending.SendingDomains`, as the API's; their refusals
(:class:`~admin.api.errors.AdminError`) are shown with their description.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from admin.api.contracts import MAX_ID
from admin.api.errors import AdminError
from admin.console.pages import Page, redirect
from edge.model.domains import CnameStatus, SslStatus, TrackingDomain


def busy(domain: TrackingDomain, ssl_status: str | None = None) -> bool:
    """Whether the domain's badges may still change by themselves (htmx polls them)."""
    ssl_status = ssl_status or domain.reported_ssl_status
    return domain.cname_status == CnameStatus.PENDING or ssl_status == SslStatus.PROVISIONING


def _domain_id(page: Page) -> int:
    value: int = page.request.path_params["id"]
    return value


async def listing(page: Page, *, error: str | None = None, status: int = 200) -> Response:
    domains = await page.services.domains.list(page.account)
    return page.render(
        "domains.html",
        status=status,
        domains=domains,
        busy=busy,
        error=error,
        cname_target=page.services.domains.target_for(page.account),
    )


async def list_domains(page: Page) -> Response:
    return await listing(page)


async def add_domain(page: Page) -> Response:
    try:
        created = await page.services.domains.create(
            page.account,
            page.form.get("domain", ""),
            secure=page.form.get("secure") == "on",
        )
    except AdminError as exc:
        return await listing(page, error=exc.description, status=exc.status)
    return redirect(f"/domains/{created.id}")


async def detail(page: Page, *, error: str | None = None, status: int = 200) -> Response:
    domain, ssl = await page.services.domains.ssl(page.account, _domain_id(page))
    sending = await page.services.sending.list(page.account)
    return page.render(
        "domain.html",
        status=status,
        domain=domain,
        ssl=ssl,
        ssl_status=ssl.status,
        sending=sending,
        busy=busy(domain, ssl.status),
        error=error,
        cname_target=page.services.domains.target_for(page.account),
    )


async def show_domain(page: Page) -> Response:
    try:
        return await detail(page)
    except AdminError as exc:
        return page.refuse(exc.status, exc.description)


async def badges(page: Page) -> Response:
    """One row's badges (htmx polls it while :func:`busy`)."""
    try:
        domain, ssl = await page.services.domains.ssl(page.account, _domain_id(page))
    except AdminError as exc:
        return page.refuse(exc.status, exc.description)
    return page.render(
        "_badges.html", domain=domain, ssl_status=ssl.status, busy=busy(domain, ssl.status)
    )


async def _assign(page: Page, ref: int) -> None:
    sending_id = int(page.form.get("sending_domain", "0") or 0)  # ValueError: refused below
    if not 0 <= sending_id <= MAX_ID:
        raise ValueError(sending_id)  # an id no row has, and no 64-bit integer holds
    await page.services.sending.assign(page.account, sending_id, ref)


#: What each button of a domain's page does: ``POST /domains/{id}/{action}``.
ACTIONS: dict[str, Callable[[Page, int], Awaitable[object]]] = {
    "verify": lambda page, ref: page.services.domains.verify(page.account, ref),
    "rename": lambda page, ref: page.services.domains.rename(
        page.account, ref, page.form.get("domain", "")
    ),
    "default": lambda page, ref: page.services.domains.update(page.account, ref, default=True),
    "secure": lambda page, ref: page.services.domains.update(
        page.account, ref, secure=page.form.get("secure") == "on"
    ),
    "ssl": lambda page, ref: page.services.domains.provision_ssl(page.account, ref),
    "delete": lambda page, ref: page.services.domains.delete(page.account, ref),
    "assign": _assign,
}


async def act(page: Page) -> Response:
    """One of :data:`ACTIONS` on the domain; its refusal shown on the domain's page."""
    name = page.request.path_params["action"]
    action = ACTIONS.get(name)
    if action is None:
        return page.refuse(404, "Not found.")
    ref = _domain_id(page)
    try:
        await action(page, ref)
    except AdminError as exc:
        try:
            return await detail(page, error=exc.description, status=exc.status)
        except AdminError:
            return page.refuse(exc.status, exc.description)
    except ValueError:
        return page.refuse(400, "Choose a sending domain.")
    return redirect("/domains" if name == "delete" else f"/domains/{ref}")
