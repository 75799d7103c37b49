"""Events and their verdicts: the fields of an event are declared here, once.

An :class:`Event` is what the edge records for a served click or open; the ingester adds a
:class:`Verdict` (who made the request: a person or a machine, and the rule that said so),
which makes it a :class:`StoredEvent`. Every positional encoding of an event (a spool row, a
row of the events table) follows the order of these dataclasses' fields:
:data:`EVENT_FIELDS` and :data:`STORED_FIELDS`.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, fields
from enum import StrEnum


class EventType(StrEnum):
    CLICK = "click"
    #: The pixel at the end of a message.
    OPEN = "open"
    #: The optional pixel at its top.
    INITIAL_OPEN = "initial_open"


EVENT_TYPES = tuple(EventType)
#: ``EventType.CLICK`` as a plain str, for the code run for every event: reading an enum
#: member from its class costs about five times the comparison it is read for.
CLICK: str = EventType.CLICK.value


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
        # %-formatting: the same text as an f-string with format specs, in less time.
        return "%014x%s%08x" % (now_ns // 1000, self.prefix, next(self.counter) & 0xFFFFFFFF)  # noqa: UP031


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

    def row(self) -> tuple[object, ...]:
        """The fields in :data:`EVENT_FIELDS` order: ``Event(*event.row())`` is ``event`` (a
        spool record's rows). Spelt out rather than ``dataclasses.astuple``, which deep-copies:
        this runs for every click; a test holds it to the fields."""
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


EVENT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Event))


class VerdictKind(StrEnum):
    """Who made a request (see :mod:`edge.events.classify` for the rules)."""

    HUMAN = "human"
    MACHINE_OPEN = "machine_open"
    PROXY_OPEN = "proxy_open"
    SCANNER = "scanner"
    BOT = "bot"


VERDICTS = tuple(VerdictKind)
#: Verdicts whose events the stats count by default: people, including opens through a cache.
COUNTED_VERDICTS = frozenset({VerdictKind.HUMAN, VerdictKind.PROXY_OPEN})
#: Link name the rewriter gives its invisible honeypot link.
HONEYPOT_LINK = "_honeypot"


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    rule: str


@dataclass(slots=True)
class StoredEvent(Event):
    """An event as the events table holds it: classified, privacy switches applied."""

    verdict: str = VerdictKind.HUMAN
    rule: str = "default"


STORED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(StoredEvent))


@dataclass(frozen=True, slots=True)
class Relabel:
    """An event already stored that a later event showed to be a machine's."""

    event_id: str
    verdict: Verdict
