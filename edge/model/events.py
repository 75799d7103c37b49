"""Events and their verdicts: the fields of an event are declared here, once.

An :class:`Event` is what the edge records for a served click or open; the ingester adds a
:class:`Verdict` (who made the request: a person or a machine, and the rule that said so).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass

EVENT_TYPES = ("click", "open", "initial_open")


class _EventIds:
    """Time-ordered, globally unique event ids: microseconds, a per-process random prefix and a
    per-process counter, in hex (38 characters).

    Time order keeps the primary-key index append-mostly, which keeps inserts fast. The prefix
    (64 random bits drawn once per process, and again in a forked child) keeps processes apart
    without a random draw per event: ``os.urandom`` is a system call, costly on the hot path.
    """

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count()

    def __call__(self, now_ns: int | None = None) -> str:
        now_ns = time.time_ns() if now_ns is None else now_ns
        return f"{now_ns // 1000:014x}{self.prefix}{next(self.counter) & 0xFFFFFFFF:08x}"


new_event_id = _EventIds()


@dataclass(slots=True)
class Event:
    """One served click or open, as recorded."""

    id: str
    type: str
    ts_ms: int
    account_id: int
    domain: str
    message: str | None = None
    recipient: str | None = None
    link: str | None = None
    url: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    method: str = "GET"
    #: A request made ahead of the person (HEAD, link previews): kept, labelled.
    prefetch: bool = False

    def row(self) -> tuple:
        """The fields in order: ``Event(*event.row())`` is ``event`` (a spool line's rows)."""
        return (
            self.id,
            self.type,
            self.ts_ms,
            self.account_id,
            self.domain,
            self.message,
            self.recipient,
            self.link,
            self.url,
            self.client_ip,
            self.user_agent,
            self.method,
            self.prefetch,
        )


VERDICTS = ("human", "machine_open", "proxy_open", "scanner", "bot")
#: Verdicts whose events the stats count by default: people, including opens through a cache.
COUNTED_VERDICTS = frozenset({"human", "proxy_open"})
#: Link name the rewriter gives its invisible honeypot link.
HONEYPOT_LINK = "_honeypot"


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    rule: str
