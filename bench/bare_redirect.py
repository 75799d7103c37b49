"""The baselines for ``bench/edge.py``: redirects that do nothing else.

``app``: a bare Starlette app whose route only redirects. ``raw_app``: an ASGI callable that
answers every request with the same 302, no framework at all: uvicorn's own floor. Neither
checks a token or the host, nor records anything.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route


async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("https://example.com/landing", status_code=302)


app = Starlette(routes=[Route("/e/{token}", redirect)])

# What Starlette's RedirectResponse sends, made once.
_START = {
    "type": "http.response.start",
    "status": 302,
    "headers": [(b"content-length", b"0"), (b"location", b"https://example.com/landing")],
}
_BODY = {"type": "http.response.body", "body": b""}


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)
