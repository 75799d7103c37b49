"""What the ingester does with a batch: classify it, then store it inside one transaction.

:meth:`EventIngest.write` is called by :meth:`edge.store.SQLiteStore.write_events` with the
writer connection and an open transaction. For each batch it

1. drops events of a type the account does not track (:mod:`edge.privacy`);
2. classifies each event (:mod:`edge.classify`: static rules, then the behaviour window),
   then applies the account's privacy switches: classification needs the raw address and
   user agent, the database never sees what the account chose to drop;
3. inserts the events (an id already stored is skipped);
4. relabels earlier events a behaviour rule caught late (:func:`reclassify`).

Unique keys, roll-ups and the webhook queue are kept by :mod:`edge.rollup`, which reads the
events table behind the ingester in set-based passes: its cost per event stays one
classification and one row insert, and a redirect never waits for either.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import aiosqlite

from edge.config import Settings
from edge.events.classify import BehaviourRules, RuleSet
from edge.events.rollup import Relabel, reclassify
from edge.model.events import Event, Verdict
from edge.model.privacy import DEFAULT, PrivacySettings

log = logging.getLogger("edge.ingest")

EVENT_COLUMNS = (
    "id, type, ts_ms, account_id, domain, message, recipient, link, url, client_ip, "
    "user_agent, method, prefetch, verdict, rule"
)


@dataclass(slots=True)
class Batch:
    """Rows ready for the events table, and relabels of events stored earlier."""

    rows: list[tuple]
    relabels: list[Relabel]


class EventIngest:
    """Classifies, filters and stores batches; one per writer connection (per worker)."""

    #: Seconds between checks of the account-settings change counter.
    settings_poll_interval = 0.5
    #: Rows in one INSERT statement (15 parameters each; SQLite allows 32,766 per statement).
    rows_per_statement = 500

    def __init__(
        self, rules: RuleSet | None = None, behaviour: BehaviourRules | None = None
    ) -> None:
        self.rules = rules or RuleSet.load()
        self.behaviour = behaviour or BehaviourRules()
        self._settings: dict[int, PrivacySettings] = {}
        self._settings_version: int | None = None
        self._settings_checked = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EventIngest:
        """Rules from the shipped files plus ``EDGE_CLASSIFY_RULES_DIR``, and the thresholds."""
        behaviour = BehaviourRules(
            fast_click_ms=int(settings.fast_click_seconds * 1000),
            burst_ms=int(settings.burst_seconds * 1000),
        )
        return cls(RuleSet.load(settings.classify_rules_dir), behaviour)

    # -- settings --------------------------------------------------------------------------

    async def _refresh_settings(self, conn: aiosqlite.Connection) -> None:
        now = time.monotonic()
        if now - self._settings_checked < self.settings_poll_interval:
            return
        self._settings_checked = now
        async with conn.execute(
            "SELECT value FROM change_counters WHERE name = 'account_settings'"
        ) as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        if version == self._settings_version:
            return
        async with conn.execute(
            "SELECT account_id, client_ip, user_agent, track_opens, track_clicks "
            "FROM account_settings"
        ) as cur:
            rows = await cur.fetchall()
        self._settings = {r[0]: PrivacySettings(r[1], r[2], bool(r[3]), bool(r[4])) for r in rows}
        self._settings_version = version

    def settings_changed(self) -> None:
        """Re-read the settings before the next batch (the API calls this in-process)."""
        self._settings_checked = 0.0

    # -- classification --------------------------------------------------------------------

    def classify(self, events: Sequence[Event]) -> tuple[list[tuple], list[Relabel]]:
        """Rows for the events table (classified, privacy applied) and late relabels."""
        rows: list[tuple] = []
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
                verdict, late = Verdict("human", "unclassified"), []
            for event_id, new in late:
                at = index.get(event_id)
                if at is not None:  # still in this batch: label it before it is written
                    late_in_batch[at] = new
                else:
                    relabels.append(Relabel(event_id, new))
            if e.type == "click":
                index[e.id] = len(rows)
            ip, ua = e.client_ip, e.user_agent
            if privacy is not DEFAULT:
                ip, ua = privacy.address(ip), privacy.agent(ua)
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
            rows[at] = (*rows[at][:13], new.verdict, new.rule)
        return rows, relabels

    # -- writing ---------------------------------------------------------------------------

    async def prepare(self, conn: aiosqlite.Connection, events: Sequence[Event]) -> Batch:
        """Classify ``events`` and apply privacy, before the write transaction starts."""
        await self._refresh_settings(conn)
        # Off the event loop: a batch holds thousands of events, and classifying them in one
        # loop step stalled everything else on the loop for hundreds of milliseconds.
        # Batches are classified one at a time (the ingester awaits each before the next),
        # so the behaviour window is never touched from two threads at once.
        return Batch(*await asyncio.to_thread(self.classify, events))

    async def write(self, conn: aiosqlite.Connection, batch: Batch) -> None:
        """Store a prepared batch inside the caller's transaction; known ids are skipped."""
        rows, relabels = batch.rows, batch.relabels
        # Many rows per statement, not executemany: executemany releases the GIL around each
        # row's step and must win it back from the busy event loop before the next row (up
        # to a switch interval each), so under load 5,000 rows took seconds instead of
        # ~70 ms and the queue grew without bound. A multi-row VALUES list is bound in C and
        # runs as one step: one hand-off per chunk.
        for start in range(0, len(rows), self.rows_per_statement):
            chunk = rows[start : start + self.rows_per_statement]
            await conn.execute(_insert_sql(len(chunk)), list(chain.from_iterable(chunk)))
        if relabels:
            await reclassify(conn, relabels)


@functools.lru_cache(maxsize=8)
def _insert_sql(rows: int) -> str:
    """``INSERT OR IGNORE INTO events ... VALUES (...), (...), ...`` for ``rows`` rows."""
    one = "(" + ", ".join("?" * len(EVENT_COLUMNS.split(","))) + ")"
    return f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS}) VALUES " + ", ".join([one] * rows)
