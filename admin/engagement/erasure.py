"""Erasure of a recipient's engagement data: ``DELETE /api/v1/engagement/recipients/{recipient}``.

The recipient is named as the sender named it to the rewriter (or in its own tokens): an
email address, hashed exactly as link tokens hash it (:meth:`TokenCodec.recipient_refs`, under
every configured key, so links signed before a key rotation are covered), or an opaque
reference, taken as given. Within the caller's account, the erasure deletes the recipient's
raw events (every verdict), the unique keys they opened and their queued webhook deliveries;
the roll-ups keep their counts, which name nobody. What keeps it erased while events are still
on their way (a spool, an ingest batch, a roll-up pass) is the data layer's
(:mod:`edge.db.repositories.erasures`, :mod:`edge.model.erasure`).

Before erasing, the roll-up is caught up, so the recipient's events already stored are counted
in the roll-ups before they go. Repeating an erasure deletes nothing more and answers zeros; so
does an empty reference, which names nobody (events without a recipient are not touched).
"""

from __future__ import annotations

import logging
import time

from starlette.convertors import Convertor, register_url_convertor
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.routing import Route

from admin.accounts.auth import authenticate
from admin.api.contracts import Operations, Results
from admin.engagement.contracts import Erased
from edge.db.store import Store, StoreUnavailable
from edge.events.rollup import Rollup
from edge.model.accounts import Account
from edge.model.erasure import ErasureCounts
from edge.tokens.codec import TokenCodec


class AnyText(Convertor[str]):
    """A path parameter of any characters, ``/`` and line breaks included: Starlette's ``path``
    convertor (``.*``, without DOTALL) stops at a line break, and a reference holding one was
    answered 404, which the operation does not document."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("text", AnyText())
PATH = "/api/v1/engagement/recipients/{recipient:text}"
log = logging.getLogger("admin.engagement")

op = Operations("Engagement", auth=authenticate)


async def erase_recipient(
    store: Store, rollup: Rollup, codec: TokenCodec, account_id: int, recipient: str
) -> ErasureCounts:
    """Erase ``recipient`` (an address or a reference) from the account's engagement data."""
    try:
        await rollup.catch_up()  # what is stored is counted before it goes
    except StoreUnavailable as exc:  # the ingester holds the lock: it is counted, or not
        log.warning("erasure without catching the roll-ups up first: %s", exc)
    async with store.transaction() as tx:
        return await tx.erasures.erase(
            account_id, codec.recipient_refs(recipient), now_ms=int(time.time() * 1000)
        )


class Recipient(HTTPEndpoint):
    @op("Erase a recipient's events, unique keys and queued webhooks (roll-up counts stay)")
    async def delete(self, request: Request, account: Account, recipient: str) -> Results[Erased]:
        engagement = request.app.state.engagement
        counts = await erase_recipient(
            engagement.store,
            engagement.rollup,
            engagement.runtime.codec,
            account.id,
            recipient,
        )
        return Results(Erased(counts.events, counts.unique_keys, counts.webhook_deliveries))


routes = [Route(PATH, Recipient)]
