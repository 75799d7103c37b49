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
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from edge.config import Settings
from edge.db.store import Store
from edge.events.classify import BehaviourRules, RuleSet
from edge.model.events import EVENT_FIELDS, Event, EventType, Relabel, Verdict, VerdictKind
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

    def __init__(
        self, rules: RuleSet | None = None, behaviour: BehaviourRules | None = None
    ) -> None:
        self.rules = rules or RuleSet.load()
        self.behaviour = behaviour or BehaviourRules()
        self._settings: dict[int, PrivacySettings] = {}
        self._settings_version: int | None = None
        self._settings_checked = 0.0

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
        """The batch for ``events``, with the switches as the store has them now."""
        await self.refresh_settings(store)
        # Off the event loop: a batch holds thousands of events, and classifying them in one
        # loop step stalled everything else on the loop for hundreds of milliseconds.
        # Batches are classified one at a time (the ingester awaits each before the next),
        # so the behaviour window is never touched from two threads at once.
        return await asyncio.to_thread(self.classify, events)

    def classify(self, events: Sequence[Event]) -> Batch:
        """Rows for the events table (classified, privacy applied) and late relabels."""
        rows: list[tuple[object, ...]] = []
        index: dict[str, int] = {}
        late_in_batch: dict[int, Verdict] = {}
        relabels: list[Relabel] = []
        settings = self._settings
        static, observe = self.rules.classify, self.behaviour.observe
        # Positional calls: this loop runs for every event the edge records.
        for e in events:
            privacy = settings.get(e.account_id, DEFAULT)
            if privacy is not DEFAULT and not privacy.tracks(e.type):
                continue
            try:
                verdict = static(e.type, e.client_ip, e.user_agent, e.method, e.prefetch, e.link)
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
            if e.type == EventType.CLICK:
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
        return Batch(rows, relabels)
