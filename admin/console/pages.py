"""How a console page is answered: the signed-in check, CSRF on every POST, templates with
autoescaping, and the security headers on every answer.

A page is ``async def handler(page: Page) -> Response`` wrapped by :func:`console_page`:
no session sends the browser to the sign-in form (htmx requests get ``HX-Redirect``), a POST
without the session's CSRF token is refused with 403 before the handler runs, and operator
pages refuse other keys with 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from admin.api.bodies import read_body
from admin.api.errors import PayloadTooLarge
from admin.console.auth import CSRF_FIELD, CSRF_HEADER, ConsoleAuth, SignedIn
from admin.services import AdminServices
from edge.model.accounts import Account

#: No inline script or style anywhere: scripts and styles are the console's static files.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
#: The largest form body read (the rewrite page's pasted HTML).
MAX_FORM_BYTES = 1_000_000

templates = Environment(
    loader=PackageLoader("admin.console", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def render(template: str, context: Mapping[str, Any], *, status: int = 200) -> Response:
    """``template`` rendered (autoescaped) with ``context``, with the security headers."""
    html = templates.get_template(template).render(**context)
    return secured(HTMLResponse(html, status_code=status))


def redirect(url: str) -> Response:
    """After a POST: 303 to ``url`` (post, redirect, get: a reload does not post again)."""
    return secured(RedirectResponse(url, status_code=303))


def console_auth(request: Request) -> ConsoleAuth:
    auth: ConsoleAuth = request.app.state.console_auth
    return auth


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (the console's forms are nothing else); the last value of a
    repeated field wins, and fields named with ``[]`` are joined by newlines."""
    if request.method != "POST":
        return {}
    try:  # counted as it arrives: /signin reads it before anyone is signed in
        body = await read_body(request, MAX_FORM_BYTES)
    except PayloadTooLarge:
        return {}
    form: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if name.endswith("[]") and name in form:
            form[name] += "\n" + value
        else:
            form[name] = value
    return form


@dataclass
class Page:
    """One console request: who is signed in, the account shown, its form, and the services."""

    request: Request
    signed_in: SignedIn
    auth: ConsoleAuth
    form: dict[str, str] = field(default_factory=dict)

    @property
    def account(self) -> Account:
        return self.signed_in.session.account

    @property
    def operator(self) -> bool:
        return self.signed_in.session.operator

    @property
    def services(self) -> AdminServices:
        services: AdminServices = self.request.app.state.services
        return services

    @property
    def csrf(self) -> str:
        return self.auth.csrf_token(self.signed_in.session_id)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        base = {
            "account": self.account,
            "operator": self.operator,
            "csrf": self.csrf,
            "csrf_field": CSRF_FIELD,
            "path": self.request.url.path,
        }
        return render(template, {**base, **context}, status=status)

    def refuse(self, status: int, message: str) -> Response:
        return self.render("error.html", status=status, message=message)


Handler = Callable[[Page], Awaitable[Response]]


def console_page(
    handler: Handler, *, operator: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint that runs ``handler`` for a signed-in session (see the module)."""

    async def endpoint(request: Request) -> Response:
        auth = console_auth(request)
        signed_in = await auth.current(request)
        if signed_in is None:
            if request.headers.get("hx-request"):
                return secured(Response(status_code=401, headers={"hx-redirect": "/"}))
            return secured(RedirectResponse("/", status_code=303))
        form = await read_form(request)
        page = Page(request, signed_in, auth, form)
        if request.method == "POST":
            token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
            if not auth.csrf_ok(signed_in.session_id, token):
                return page.refuse(
                    403,
                    "This form has expired or did not come from the console. "
                    "Reload the page and try again.",
                )
        if operator and not page.operator:
            return page.refuse(403, "Only the operator may do this.")
        return await handler(page)

    return endpoint


def operator_page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    return console_page(handler, operator=True)
