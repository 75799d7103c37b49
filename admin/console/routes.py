"""The console's routes, mounted on the admin app (so on the admin host only); none of them
is in the API's OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from admin.console import account, dashboard, domains, keys, signin
from admin.console.pages import console_page, operator_page

Endpoint = Callable[[Request], Awaitable[Response]]


class RowIdConvertor(IntegerConvertor):
    """A row id in a console path: at most 18 digits, so any it matches fits the database's
    64-bit integers (one that does not names nothing: 404, where a lookup raised)."""

    regex = "[0-9]{1,18}"


register_url_convertor("rowid", RowIdConvertor())


def _get(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["GET"], include_in_schema=False)


def _post(path: str, endpoint: Endpoint) -> Route:
    return Route(path, endpoint, methods=["POST"], include_in_schema=False)


STATIC = str(resources.files("admin.console") / "static")

routes: list[BaseRoute] = [
    _get("/", signin.home),
    _post("/signin", signin.signin),
    _post("/signout", console_page(signin.signout)),
    _get("/domains", console_page(domains.list_domains)),
    _post("/domains", console_page(domains.add_domain)),
    _get("/domains/{id:rowid}", console_page(domains.show_domain)),
    _get("/domains/{id:rowid}/badges", console_page(domains.badges)),
    _post("/domains/{id:rowid}/{action:str}", console_page(domains.act)),
    _get("/dashboard", console_page(dashboard.dashboard)),
    _get("/dashboard/chart.json", console_page(dashboard.chart_data)),
    _get("/dashboard/tail", console_page(dashboard.tail)),
    _get("/keys", console_page(keys.list_keys)),
    _post("/keys", console_page(keys.create_key)),
    _post("/keys/{id:rowid}/revoke", console_page(keys.revoke_key)),
    _get("/webhooks", console_page(account.list_webhooks)),
    _post("/webhooks", console_page(account.create_webhook)),
    _post("/webhooks/{id:rowid}/test", console_page(account.test_webhook)),
    _post("/webhooks/{id:rowid}/delete", console_page(account.delete_webhook)),
    _get("/privacy", console_page(account.show_privacy)),
    _post("/privacy", console_page(account.change_privacy)),
    _get("/rewrite", console_page(account.rewrite_page)),
    _post("/rewrite", console_page(account.rewrite_page)),
    _get("/accounts", operator_page(keys.list_accounts)),
    _post("/accounts", operator_page(keys.create_account)),
    _post("/accounts/look", operator_page(keys.look_at)),
    _post("/accounts/compliance", operator_page(keys.compliance)),
    Mount("/static", StaticFiles(directory=STATIC), name="console-static"),
]
