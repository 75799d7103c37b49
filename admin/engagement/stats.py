"""Engagement statistics, read from the roll-ups (:mod:`edge.db.repositories.stats`).

A :class:`StatsQuery` names an account, a time range, an optional grouping (``hour`` or
``day``, UTC) and filters; :func:`run_stats` answers it with totals, a time series and the
top links. Whole UTC days inside the range are read from the daily roll-up, the hours at its
ends from the hourly one, so a 30-day query reads a few thousand rows whatever the number of
events behind them.

Metrics (``include_machine`` false, the default, counts people only: verdicts ``human`` and
``proxy_open``; true counts every verdict):

=================  ===========================================================================
opens              ``open`` events (the pixel at the end of the message)
initial_opens      ``initial_open`` events (the optional pixel at its top)
unique_opens       message/recipient pairs whose first open (either pixel) is in the range
machine_opens      ``open`` events with verdict ``machine_open`` (Apple MPP), always reported
proxied_opens      ``open`` events with verdict ``proxy_open`` (Gmail, Yahoo caches)
clicks             ``click`` events
unique_clicks      message/recipient pairs whose first click is in the range
scanner_clicks     ``click`` events with verdict ``scanner``, always reported
bot_clicks         ``click`` events with verdict ``bot``, always reported
click_to_open_rate unique_clicks / unique_opens, 4 decimals; ``null`` without unique opens
=================  ===========================================================================

The ``link`` filter narrows clicks (and top links) to one link name; opens are not per link,
so it leaves them whole and the click-to-open rate stays meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from admin.api.timestamps import iso_utc
from edge.db.repositories.stats import DAY_MS, HOUR_MS, RollupCounts, RollupQuery
from edge.db.store import Store
from edge.model.events import CLICK, COUNTED_VERDICTS, HONEYPOT_LINK, EventType, VerdictKind

GROUPS = {"hour": HOUR_MS, "day": DAY_MS}
#: The times an answer can show (years 1 to 9999, the range of ISO 8601's four digits), in ms:
#: from 0001-01-01 to 9999-12-31, whole days, so a range widened to whole days stays inside.
FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_214_400_000
#: Most points a series may have (a year of days, or 93 days of hours).
MAX_POINTS = 2232
METRICS = (
    "opens",
    "initial_opens",
    "unique_opens",
    "machine_opens",
    "proxied_opens",
    "clicks",
    "unique_clicks",
    "scanner_clicks",
    "bot_clicks",
    "click_to_open_rate",
)


class StatsError(ValueError):
    """A query that cannot be answered; ``field`` names the parameter at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StatsQuery:
    account_id: int
    #: Start (inclusive) and end (exclusive), in ms, aligned to the hour (to the day when
    #: grouping by day).
    start_ms: int
    end_ms: int
    group_by: str | None = None
    domain: str | None = None
    message: str | None = None
    campaign: str | None = None
    tag: str | None = None
    link: str | None = None
    include_machine: bool = False
    top_links: int = 10

    def __post_init__(self) -> None:
        if self.group_by is not None and self.group_by not in GROUPS:
            raise StatsError("group_by must be hour or day", "group_by")
        unit = GROUPS.get(self.group_by or "hour", HOUR_MS)
        if self.start_ms % unit or self.end_ms % unit:
            raise StatsError("the range must be aligned to the grouping", "from")
        if self.end_ms <= self.start_ms:
            raise StatsError("'to' must be after 'from'", "to")
        for ms, name in ((self.start_ms, "from"), (self.end_ms, "to")):
            if not FIRST_MS <= ms <= LAST_MS:
                raise StatsError(f"'{name}' must be from 0001-01-01 to 9999-12-31 (UTC)", name)
        if self.group_by and (self.end_ms - self.start_ms) // unit > MAX_POINTS:
            raise StatsError(f"a series has at most {MAX_POINTS} points", "group_by")
        if not 0 <= self.top_links <= 100:
            raise StatsError("top_links must be between 0 and 100", "top_links")

    def rollup_query(self) -> RollupQuery:
        return RollupQuery(
            self.account_id,
            self.start_ms,
            self.end_ms,
            slot_ms=GROUPS.get(self.group_by or "", 0),
            domain=self.domain,
            message=self.message,
            campaign=self.campaign,
            tag=self.tag,
            link=self.link,
        )

    @classmethod
    def aligned(cls, account_id: int, start_ms: int, end_ms: int, **kw: Any) -> StatsQuery:
        """A query whose range is widened to whole hours (whole days when grouping by day)."""
        unit = GROUPS.get(kw.get("group_by") or "hour", HOUR_MS)
        start = start_ms - start_ms % unit
        end = end_ms + (-end_ms % unit)
        return cls(account_id, start, end, **kw)


def _empty() -> dict[str, int]:
    return dict.fromkeys(METRICS[:-1], 0)


# Plain strings compared ~300 times a query: a StrEnum member looked up on its class costs
# several times the comparison (bench/stats.py). ``CLICK`` is the model's.
_INITIAL_OPEN = EventType.INITIAL_OPEN.value
_SCANNER, _BOT = VerdictKind.SCANNER.value, VerdictKind.BOT.value
_MACHINE_OPEN, _PROXY_OPEN = VerdictKind.MACHINE_OPEN.value, VerdictKind.PROXY_OPEN.value
_COUNTED = frozenset(v.value for v in COUNTED_VERDICTS)


def _add(metrics: dict[str, int], q: StatsQuery, row: RollupCounts) -> None:
    type_, verdict, events = row.type, row.verdict, row.events
    counted = q.include_machine or verdict in _COUNTED
    uniq = row.uniq_any if q.include_machine else row.uniq_counted
    if type_ == CLICK:
        if counted:
            metrics["clicks"] += events
        metrics["unique_clicks"] += uniq
        if verdict == _SCANNER:
            metrics["scanner_clicks"] += events
        elif verdict == _BOT:
            metrics["bot_clicks"] += events
        return
    metrics["unique_opens"] += uniq
    if type_ == _INITIAL_OPEN:
        if counted:
            metrics["initial_opens"] += events
        return
    if counted:
        metrics["opens"] += events
    if verdict == _MACHINE_OPEN:
        metrics["machine_opens"] += events
    elif verdict == _PROXY_OPEN:
        metrics["proxied_opens"] += events


def _finish(metrics: dict[str, int]) -> dict[str, Any]:
    opens = metrics["unique_opens"]
    rate = round(metrics["unique_clicks"] / opens, 4) if opens else None
    return {**metrics, "click_to_open_rate": rate}


def iso(ms: int) -> str:
    return iso_utc(ms / 1000)


async def run_stats(store: Store, q: StatsQuery) -> dict[str, Any]:
    """Totals, series (when grouped) and top links for ``q``."""
    rq = q.rollup_query()
    async with store.reading() as db:
        rows = await db.stats.counts(rq)
        links = (
            await db.stats.top_links(rq, limit=q.top_links, include_machine=q.include_machine)
            if q.top_links
            else []
        )
    totals = _empty()
    by_slot: dict[int, dict[str, int]] = {}
    for row in rows:
        _add(totals, q, row)
        if rq.slot_ms:
            _add(by_slot.setdefault(row.slot_ms, _empty()), q, row)
    result: dict[str, Any] = {
        "from": iso(q.start_ms),
        "to": iso(q.end_ms),
        "group_by": q.group_by,
        "include_machine": q.include_machine,
        "totals": _finish(totals),
    }
    if rq.slot_ms:
        result["series"] = [
            {"time": iso(t), **_finish(by_slot.get(t, _empty()))}
            for t in range(q.start_ms, q.end_ms, rq.slot_ms)
        ]
    result["top_links"] = [
        {"link": link.link, "clicks": link.clicks, "unique_clicks": link.unique_clicks}
        for link in links
        if q.include_machine or link.link != HONEYPOT_LINK
    ]
    return result
