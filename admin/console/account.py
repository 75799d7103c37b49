"""The rest of the account: webhooks (create with the secret shown once; status, backlog and
last error; a test batch; delete), privacy and tracking switches, and the rewrite page.

The calls are the API's services: :class:`~admin.engagement.webhooks.endpoints.WebhookEndpoints`,
:meth:`WebhookDelivery.send_test`, :meth:`Engagement.change_privacy` and
:mod:`admin.rewrite.service`.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from admin.api.errors import AdminError
from admin.console.pages import Page, redirect
from admin.engagement.service import Engagement
from admin.engagement.webhooks.endpoints import WebhookError
from admin.rewrite import service as rewriting
from edge.model.events import EVENT_TYPES
from edge.model.privacy import IP_MODES, UA_MODES
from edge.rewrite.rewriter import TooManyLinks
from edge.serving.server import Runtime


def _engagement(page: Page) -> Engagement:
    engagement: Engagement = page.request.app.state.engagement
    return engagement


# -- webhooks -------------------------------------------------------------------------------


async def webhooks_page(page: Page, status: int = 200, **context: Any) -> Response:
    endpoints = await _engagement(page).endpoints.list(page.account.id)
    return page.render(
        "webhooks.html", status=status, endpoints=endpoints, event_types=EVENT_TYPES, **context
    )


async def list_webhooks(page: Page) -> Response:
    return await webhooks_page(page)


async def create_webhook(page: Page) -> Response:
    types = [t for t in EVENT_TYPES if page.form.get(f"type_{t}") == "on"] or None
    try:
        endpoint, secret = await _engagement(page).endpoints.create(
            page.account.id, page.form.get("url", "").strip(), types
        )
    except WebhookError as exc:
        return await webhooks_page(page, 400, error=str(exc))
    # The secret is shown here only: receivers verify signatures with it.
    return await webhooks_page(page, 201, new_secret=secret, new_endpoint=endpoint.id)


async def test_webhook(page: Page) -> Response:
    endpoint_id: int = page.request.path_params["id"]
    try:
        error = await _engagement(page).delivery.send_test(page.account.id, endpoint_id)
    except LookupError:
        return await webhooks_page(page, 404, error="No such webhook endpoint.")
    outcome = "The test batch was delivered." if error is None else f"The test failed: {error}"
    return await webhooks_page(page, tested=endpoint_id, outcome=outcome)


async def delete_webhook(page: Page) -> Response:
    endpoint_id: int = page.request.path_params["id"]
    if not await _engagement(page).endpoints.delete(page.account.id, endpoint_id):
        return await webhooks_page(page, 404, error="No such webhook endpoint.")
    return redirect("/webhooks")


# -- privacy --------------------------------------------------------------------------------


async def privacy_page(page: Page, status: int = 200, **context: Any) -> Response:
    settings = await _engagement(page).privacy(page.account.id)
    return page.render(
        "privacy.html",
        status=status,
        settings=settings,
        ip_modes=IP_MODES,
        ua_modes=UA_MODES,
        **context,
    )


async def show_privacy(page: Page) -> Response:
    return await privacy_page(page)


async def change_privacy(page: Page) -> Response:
    form = page.form
    try:
        await _engagement(page).change_privacy(
            page.account.id,
            client_ip=form.get("client_ip", ""),
            user_agent=form.get("user_agent", ""),
            track_opens=form.get("track_opens") == "on",
            track_clicks=form.get("track_clicks") == "on",
        )
    except ValueError as exc:  # a mode that is not one of the choices
        return await privacy_page(page, 400, error=str(exc))
    return await privacy_page(page, saved=True)


# -- rewrite --------------------------------------------------------------------------------


async def rewrite_page(page: Page) -> Response:
    domains = await page.services.domains.list(page.account)
    context: dict[str, Any] = {"domains": [d for d in domains if d.served], "form": page.form}
    status = 200
    if page.request.method == "POST":
        try:
            context["result"], context["host"] = await _rewrite(page)
        except AdminError as exc:
            context["error"], status = exc.description, exc.status
        except TooManyLinks as exc:
            context["error"], status = str(exc), 422
    return page.render("rewrite.html", status=status, **context)


async def _rewrite(page: Page) -> tuple[Any, str]:
    runtime: Runtime = page.request.app.state.runtime
    services, form = page.services, page.form
    options: dict[str, Any] = {
        "track_clicks": form.get("track_clicks") == "on",
        "track_opens": form.get("track_opens") == "on",
    }
    options = await rewriting.allowed_options(services.store, page.account, options)
    host = await rewriting.tracking_host(
        runtime,
        services.domains,
        services.sending,
        page.account,
        tracking_domain=form.get("tracking_domain") or None,
    )
    rewriter = rewriting.rewriter(runtime, host, page.account)
    html = form.get("html", "")
    message = form.get("message", "").strip()[:200] or None
    result = await run_in_threadpool(
        lambda: rewriter.rewrite(html or None, None, message=message, **options)
    )
    return result, host.domain
