"""The baseline for ``bench/edge.py``: a bare Starlette app whose route only redirects.

No token, no host check, no recording: the least a Starlette redirect can do.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route


async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("https://example.com/landing", status_code=302)


app = Starlette(routes=[Route("/e/{token}", redirect)])
