"""One Starlette route per resource path, dispatching on the method.

Starlette matches routes in order and, for a path whose first route does not take the
method, answers 405 with *that* route's methods in ``Allow``. One route per path, holding
every method's handler, makes ``Allow`` list all of them (RFC 9110 §15.5.6).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Handler) -> Route:
    """``resource("/things/{id}", GET=get_thing, DELETE=delete_thing)``."""
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])

    async def dispatch(request: Request) -> Response:
        return await table[request.method](request)

    dispatch.__name__ = "_".join(h.__name__ for h in handlers.values())
    route = Route(path, dispatch, methods=list(table))
    route.handlers = dict(table)  # type: ignore[attr-defined]  # read by the OpenAPI tests
    return route
