"""The rewriter for an account: which tracking host its links use and what its switches allow.

One place for those rules, used by ``POST /api/v1/rewrite`` and the console's rewrite page.
"""

from __future__ import annotations

from typing import Any

from admin.api.errors import InvalidData
from admin.domains.sending import SendingDomains
from admin.domains.service import DomainService, require_served
from edge.db.store import Store
from edge.hosts import normalise_host
from edge.model.accounts import Account
from edge.model.domains import TrackingHost
from edge.rewrite.rewriter import Rewriter, served_hosts
from edge.serving.server import Runtime
from edge.tokens.links import LinkBuilder


async def tracking_host(
    runtime: Runtime,
    domains: DomainService,
    sending: SendingDomains,
    account: Account,
    *,
    tracking_domain: str | None = None,
    sender: str | None = None,
) -> TrackingHost:
    """The tracking host named, else the sender's or the account's, else the edge's default."""
    default = runtime.domains.default
    if tracking_domain is not None:
        name = normalise_host(tracking_domain)
        if name is None:  # blank or not a host name: nothing to look up
            raise InvalidData(
                f"field 'tracking_domain' is not a domain name: {tracking_domain!r}",
                field="tracking_domain",
            )
        if name == default.domain:
            return default
        domain = await domains.get(account, tracking_domain)  # NotFound elsewhere
        require_served(domain)
    else:
        found = await sending.tracking_domain_for(account, sender)
        if found is None:
            return default
        domain = found
    return TrackingHost(domain.domain, domain.account_id, domain.secure, True, domain.id)


async def allowed_options(
    store: Store, account: Account, options: dict[str, Any]
) -> dict[str, Any]:
    """``options`` with the account's switches applied: a request can turn tracking off, not
    on (migration 0005)."""
    async with store.reading() as db:
        switches = await db.privacy.get(account.id)
    options = dict(options)
    if not switches.track_clicks:
        options["track_clicks"] = False
    if not switches.track_opens:
        options["track_opens"] = False
    return options


def rewriter(runtime: Runtime, host: TrackingHost, account: Account) -> Rewriter:
    settings = runtime.settings
    links = LinkBuilder(runtime.codec, settings.public_http_port, settings.public_https_port)
    return Rewriter(links, host, account.id, tracking_hosts=served_hosts(runtime.domains))
