"""Events to rows: classification and the accounts' privacy switches, one pure step.

For each batch the ingester reads from the spool, :meth:`EventPreparer.prepare`

1. drops events of a type the account does not track (:mod:`edge.model.privacy`);
2. classifies each event (:mod:`edge.events.classify`: static rules, then the behaviour
   window), then applies the account's privacy switches: classification needs the raw address
   and user agent, the database never sees what the account chose to drop;
3. returns the rows for the events table and the relabels of events stored earlier that a
   behaviour rule caught late.

The ingester then stores both in one transaction (:mod:`edge.events.ingester`). Unique keys,
roll-ups and the webhook queue are kept by the roll-up pass behind it: the cost per event
stays one classification and one row insert, and a redirect never waits for either.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from edge.config import Settings
from edge.db.repositories.events import Neighbourhood
from edge.db.store import Store
from edge.events.classify import HONEYPOT, BehaviourRules, RuleSet
from edge.model.events import (
    CLICK,
    COUNTED_VERDICTS,
    EVENT_FIELDS,
    Event,
    Relabel,
    StoredEvent,
    Verdict,
    VerdictKind,
)
from edge.model.privacy import DEFAULT, PrivacySettings

log = logging.getLogger("edge.ingest")

_EVENT_WIDTH = len(EVENT_FIELDS)


@dataclass(slots=True)
class Batch:
    """Rows ready for the events table (:data:`~edge.model.events.STORED_FIELDS` order) and
    relabels of events stored earlier."""

    rows: list[tuple[object, ...]]
    relabels: list[Relabel]


class EventPreparer:
    """Classifies and filters batches; one per ingester (the behaviour window is its state)."""

    #: Seconds between checks of the privacy switches' change counter.
    settings_poll_interval = 0.5
    #: Other nodes' event ids remembered as seen (each is shown to the window once).
    max_seen_others = 200_000
    #: Events classified between two turns of the event loop (about a millisecond's work).
    slice_events = 256

    def __init__(
        self, rules: RuleSet | None = None, behaviour: BehaviourRules | None = None
    ) -> None:
        self.rules = rules or RuleSet.load()
        self.behaviour = behaviour or BehaviourRules()
        self._settings: dict[int, PrivacySettings] = {}
        self._settings_version: int | None = None
        self._settings_checked = 0.0
        #: Ids of other nodes' events already shown to the behaviour window.
        self._seen_others: collections.OrderedDict[str, None] = collections.OrderedDict()
        #: What the last look at other nodes' events covered (each look reads what is new).
        self._neighbourhood: Neighbourhood | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPreparer:
        """Rules from the shipped files plus ``EDGE_CLASSIFY_RULES_DIR``, and the thresholds."""
        behaviour = BehaviourRules(
            fast_click_ms=int(settings.fast_click_seconds * 1000),
            burst_ms=int(settings.burst_seconds * 1000),
        )
        return cls(RuleSet.load(settings.classify_rules_dir), behaviour)

    # -- privacy switches -------------------------------------------------------------------

    async def refresh_settings(self, store: Store) -> None:
        """Re-read the accounts' switches if they changed (checked twice a second at most)."""
        now = time.monotonic()
        if now - self._settings_checked < self.settings_poll_interval:
            return
        self._settings_checked = now
        async with store.reading() as db:
            version = await db.privacy.version()
            if version == self._settings_version:
                return
            self._settings = await db.privacy.all()
        self._settings_version = version

    def settings_changed(self) -> None:
        """Re-read the switches before the next batch (the API calls this in-process)."""
        self._settings_checked = 0.0

    # -- classification ---------------------------------------------------------------------

    async def prepare(self, store: Store, events: Sequence[Event]) -> Batch:
        """The batch for ``events``, with the switches as the store has them now, judged
        with the events other nodes stored around them (none on one machine)."""
        await self.refresh_settings(store)
        others = await self._others_near(store, events)
        # On the event loop, a slice at a time: the loop stays free for the batch being
        # written meanwhile (each of its round trips waits at most one slice). In a thread
        # it waited for the GIL instead, up to the 5 ms switch interval per round trip, and
        # the write behind it, not the classification, set the ingester's pace.
        batch = Batch([], [])
        for _ in self._classifying(events, others, batch):
            await asyncio.sleep(0)
        return batch

    async def _others_near(self, store: Store, events: Sequence[Event]) -> list[StoredEvent]:
        """What other nodes stored for the messages of ``events``, within the behaviour rules'
        reach, and not seen in an earlier batch."""
        keys = {(e.account_id, e.message) for e in events if e.message is not None}
        if not keys:
            return []
        reach = max(self.behaviour.fast_click_ms, self.behaviour.burst_ms)
        start = min(e.ts_ms for e in events)
        end = max(e.ts_ms for e in events)
        async with store.reading() as db:
            found, self._neighbourhood = await db.events.others_near(
                sorted(keys),
                start - reach,
                end + reach,
                start - self.behaviour.honeypot_ms,
                self._neighbourhood,
            )
        fresh = [e for e in found if e.id not in self._seen_others]
        for e in fresh:
            self._seen_others[e.id] = None
        while len(self._seen_others) > self.max_seen_others:
            self._seen_others.popitem(last=False)
        return fresh

    def classify(self, events: Sequence[Event], others: Sequence[StoredEvent] = ()) -> Batch:
        """Rows for the events table (classified, privacy applied) and late relabels.

        ``others`` (events other nodes stored) are seen by the behaviour rules in time order
        with ``events`` but make no rows; a rule that now finds one of them a machine's
        relabels it.
        """
        batch = Batch([], [])
        for _ in self._classifying(events, others, batch):
            pass
        return batch

    def _classifying(
        self, events: Sequence[Event], others: Sequence[StoredEvent], batch: Batch
    ) -> Iterator[None]:
        """Classify into ``batch``, pausing (a ``yield``) after every ``slice_events``."""
        if others:
            yield from self._classifying_with_others(events, others, batch)
        else:
            yield from self._classifying_own(events, batch)

    def _classifying_own(self, events: Sequence[Event], batch: Batch) -> Iterator[None]:
        rows, relabels = batch.rows, batch.relabels
        index: dict[str, int] = {}
        late_in_batch: dict[int, Verdict] = {}
        settings = self._settings
        static, observe = self.rules.classify, self.behaviour.observe
        step = self.slice_events
        for start in range(0, len(events), step):
            if start:
                yield
            # Positional calls: this loop runs for every event the edge records.
            for e in events[start : start + step]:
                privacy = settings.get(e.account_id, DEFAULT)
                if privacy is not DEFAULT and not privacy.tracks(e.type):
                    continue
                try:
                    verdict = static(
                        e.type, e.client_ip, e.user_agent, e.method, e.prefetch, e.link
                    )
                    verdict, late = observe(
                        e.id,
                        e.type,
                        e.ts_ms,
                        e.account_id,
                        e.message,
                        e.recipient,
                        e.link,
                        e.url,
                        e.client_ip,
                        verdict,
                    )
                except Exception:  # a rule bug must never cost an event
                    log.exception("classification failed for event %s", e.id)
                    verdict, late = Verdict(VerdictKind.HUMAN, "unclassified"), []
                for event_id, new in late:
                    at = index.get(event_id)
                    if at is not None:  # still in this batch: label it before it is written
                        late_in_batch[at] = new
                    else:
                        relabels.append(Relabel(event_id, new))
                if e.type == CLICK:
                    index[e.id] = len(rows)
                ip, ua = e.client_ip, e.user_agent
                if privacy is not DEFAULT:
                    ip, ua = privacy.address(ip), privacy.agent(ua)
                # STORED_FIELDS order: the event's fields, then the verdict's.
                rows.append(
                    (
                        e.id,
                        e.type,
                        e.ts_ms,
                        e.account_id,
                        e.domain,
                        e.message,
                        e.recipient,
                        e.link,
                        e.url,
                        ip,
                        ua,
                        e.method,
                        int(e.prefetch),
                        verdict.verdict,
                        verdict.rule,
                    )
                )
        for at, new in late_in_batch.items():
            rows[at] = (*rows[at][:_EVENT_WIDTH], new.verdict, new.rule)

    def _classifying_with_others(
        self, events: Sequence[Event], others: Sequence[StoredEvent], batch: Batch
    ) -> Iterator[None]:
        # The others go through the window in time order with this batch; their relabels are
        # collected, and the batch's own events are classified as usual around them.
        foreign = {e.id for e in others}
        merged = sorted([*events, *others], key=_event_id)
        # The batch's own rows and every relabel, before those of its own rows are applied.
        classified = Batch([], [])
        rows, relabels = classified.rows, classified.relabels
        own: list[Event] = []
        for e in merged:
            if e.id not in foreign:
                own.append(e)
                continue
            if own:  # the batch's events before this one, as one run
                yield from self._classifying_own(own, classified)
                own = []
            assert isinstance(e, StoredEvent)
            stored = (
                HONEYPOT
                if (e.verdict, e.rule) == (HONEYPOT.verdict, HONEYPOT.rule)
                else Verdict(e.verdict, e.rule)
            )
            verdict, late = self.behaviour.observe(
                e.id, e.type, e.ts_ms, e.account_id, e.message, e.recipient, e.link, e.url,
                e.client_ip, stored,
            )  # fmt: skip
            relabels += [Relabel(event_id, new) for event_id, new in late]
            if verdict != stored and verdict.verdict not in COUNTED_VERDICTS:
                relabels.append(Relabel(e.id, verdict))
        if own:
            yield from self._classifying_own(own, classified)
        # A relabel of one of this batch's own rows is applied to the row itself.
        at = {row[0]: n for n, row in enumerate(rows)}
        for relabel in relabels:
            n = at.get(relabel.event_id)
            if n is None:
                batch.relabels.append(relabel)
            else:
                rows[n] = (*rows[n][:_EVENT_WIDTH], relabel.verdict.verdict, relabel.verdict.rule)
        batch.rows += rows


def _event_id(event: Event) -> str:
    return event.id
