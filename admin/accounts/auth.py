"""Authentication of admin API requests, and the account every query is scoped to.

Clients send their key as SparkPost's clients do, ``Authorization: <key>``, or as a bearer
token, ``Authorization: Bearer <key>``. A route calls :func:`authenticate` first and passes
the :class:`~admin.accounts.Account` it returns to the domain service, which scopes every read
and write to it::

    from admin.accounts.auth import authenticate

    async def my_route(request: Request) -> Response:
        account = await authenticate(request)
        ...

A missing, unknown or revoked key raises :class:`~admin.errors.Unauthorized`; the admin app's
error handler renders it as a 401 in the dialect of the path (:func:`admin.errors.render`).
The key itself is kept as ``request.state.api_key`` (a route refusing to revoke the key it was
called with reads it). :func:`authenticate_operator` lets operators' keys only (403 else).
"""

from __future__ import annotations

from starlette.requests import Request

from admin.accounts.service import Account, Accounts, ApiKey
from admin.api.errors import Forbidden, Unauthorized

#: Where the admin app keeps its :class:`Accounts` (``request.app.state.accounts``).
STATE_KEY = "accounts"


def key_from_header(value: str | None) -> str | None:
    """The key in an ``Authorization`` header value, or ``None`` when there is none."""
    if value is None:
        return None
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    # A key is one token: anything with inner spaces (another auth scheme) is not ours.
    if not value or " " in value:
        return None
    return value


async def authenticate(request: Request) -> Account:
    """The account the request's API key belongs to; raises :class:`Unauthorized`."""
    return (await _key(request)).account


async def authenticate_operator(request: Request) -> Account:
    """The operator's account, for an operator's key (:class:`Forbidden` for another key)."""
    key = await _key(request)
    if not key.operator:
        raise Forbidden("Only an operator's API key may do this.")
    return key.account


def request_key(request: Request) -> ApiKey:
    """The key :func:`authenticate` accepted for this request."""
    key: ApiKey = request.state.api_key
    return key


async def _key(request: Request) -> ApiKey:
    secret = key_from_header(request.headers.get("authorization"))
    if secret is None:
        raise Unauthorized("An API key is required in the Authorization header.")
    accounts: Accounts = getattr(request.app.state, STATE_KEY)
    key = await accounts.authenticate_key(secret)
    if key is None:
        raise Unauthorized("The API key is not valid.")
    request.state.api_key = key
    return key
