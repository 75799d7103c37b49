"""``/``: the sign-in form (signed in: on to the domains page), ``/signin``, ``/signout``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin.console.auth import CSRF_FIELD, PRESESSION_COOKIE, ConsoleAuth
from admin.console.pages import Page, console_auth, read_form, redirect, render
from edge.serving.clientaddr import ClientResolver


def _signin_form(
    request: Request, auth: ConsoleAuth, *, status: int = 200, error: str | None = None
) -> Response:
    # The pre-session value goes into a cookie and (as an HMAC) into the form.
    holder = Response()
    value = auth.presession(request, holder)
    response = render(
        "signin.html",
        {"csrf": auth.csrf_token("pre:" + value), "csrf_field": CSRF_FIELD, "error": error},
        status=status,
    )
    for name, header in holder.raw_headers:
        if name == b"set-cookie":
            response.raw_headers.append((name, header))
    return response


async def home(request: Request) -> Response:
    auth = console_auth(request)
    if await auth.current(request) is not None:
        return redirect("/domains")
    return _signin_form(request, auth)


async def signin(request: Request) -> Response:
    auth = console_auth(request)
    form = await read_form(request)
    presession = request.cookies.get(PRESESSION_COOKIE)
    if not presession or not auth.csrf_ok("pre:" + presession, form.get(CSRF_FIELD)):
        return render(
            "error.html",
            {"message": "This form has expired. Reload the sign-in page and try again."},
            status=403,
        )
    # The client as the tracking paths see it (X-Forwarded-For from trusted proxies only).
    resolver: ClientResolver = request.app.state.console_clients
    address, _, _ = resolver.resolve(request.scope["headers"], request.client)
    client = address or "unknown"
    if not await auth.allow_attempt(client):
        return _signin_form(
            request, auth, status=429, error="Too many sign-in attempts. Wait a few minutes."
        )
    session_id = await auth.sign_in(form.get("api_key", "").strip())
    if session_id is None:
        return _signin_form(request, auth, status=401, error="That API key is not valid.")
    response = redirect("/domains")
    auth.set_session_cookie(request, response, session_id)
    response.delete_cookie(PRESESSION_COOKIE, path="/")
    return response


async def signout(page: Page) -> Response:
    await page.auth.sign_out(page.signed_in)
    response = redirect("/")
    page.auth.clear_session_cookie(page.request, response)
    return response
