"""The engagement dashboard: totals, a chart of opens and clicks (people and machines apart),
top links, and a live tail of events with their verdict and rule.

The numbers are :meth:`Engagement.stats`' (the stats API's); the chart's data is a JSON
endpoint the static script reads; the tail is an htmx fragment polled every few seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from admin.api.timestamps import iso_utc
from admin.console.pages import Page, secured
from admin.engagement.service import Engagement
from admin.engagement.stats import GROUPS, StatsError, StatsQuery
from edge.db.repositories.events import EventFilter

#: The ranges offered: (label, seconds, grouping).
RANGES = {
    "24h": ("Last 24 hours", 86_400, "hour"),
    "7d": ("Last 7 days", 7 * 86_400, "hour"),
    "30d": ("Last 30 days", 30 * 86_400, "day"),
}
DEFAULT_RANGE = "7d"
TAIL_LENGTH = 25


@dataclass(frozen=True)
class Filters:
    range: str
    domain: str | None
    campaign: str | None
    tag: str | None

    @classmethod
    def of(cls, page: Page) -> Filters:
        params = page.request.query_params

        def text(name: str) -> str | None:
            value = params.get(name, "").strip()
            return value[:500] or None

        chosen = params.get("range", DEFAULT_RANGE)
        return cls(
            chosen if chosen in RANGES else DEFAULT_RANGE,
            text("domain"),
            text("campaign"),
            text("tag"),
        )

    def query(self, account_id: int, now_ms: int) -> StatsQuery:
        _, seconds, group_by = RANGES[self.range]
        return StatsQuery.aligned(
            account_id,
            now_ms - seconds * 1000,
            now_ms,
            group_by=group_by,
            domain=self.domain,
            campaign=self.campaign,
            tag=self.tag,
            top_links=10,
        )

    def event_filter(self, account_id: int) -> EventFilter:
        return EventFilter(account_id, domain=self.domain, campaign=self.campaign, tag=self.tag)

    def params(self) -> dict[str, str]:
        values = {"range": self.range, "domain": self.domain, "campaign": self.campaign}
        return {k: v for k, v in {**values, "tag": self.tag}.items() if v}


def _engagement(page: Page) -> Engagement:
    engagement: Engagement = page.request.app.state.engagement
    return engagement


async def _stats(page: Page, filters: Filters) -> tuple[StatsQuery, dict[str, Any]]:
    query = filters.query(page.account.id, int(time.time() * 1000))
    return query, await _engagement(page).stats(query)


async def dashboard(page: Page) -> Response:
    filters = Filters.of(page)
    try:
        _, stats = await _stats(page, filters)
    except StatsError as exc:
        return page.refuse(400, str(exc))
    domains = await page.services.domains.list(page.account)
    return page.render(
        "dashboard.html",
        filters=filters,
        ranges=RANGES,
        domains=domains,
        totals=stats["totals"],
        top_links=stats["top_links"],
        query=filters.params(),
    )


async def chart_data(page: Page) -> Response:
    """The chart's series: times (seconds) and, per time, opens and clicks of people and of
    machines (machine opens; scanner and bot clicks)."""
    filters = Filters.of(page)
    try:
        query, stats = await _stats(page, filters)
    except StatsError as exc:
        return secured(JSONResponse({"error": str(exc)}, status_code=400))
    series = stats["series"]
    slot = GROUPS[query.group_by or "hour"]
    body = {
        "time": [ms // 1000 for ms in range(query.start_ms, query.end_ms, slot)],
        "opens": [p["opens"] for p in series],
        "machine_opens": [p["machine_opens"] for p in series],
        "clicks": [p["clicks"] for p in series],
        "machine_clicks": [p["scanner_clicks"] + p["bot_clicks"] for p in series],
    }
    return secured(JSONResponse(body))


async def tail(page: Page) -> Response:
    filters = Filters.of(page)
    async with _engagement(page).store.reading() as db:
        events = await db.events.latest(filters.event_filter(page.account.id), limit=TAIL_LENGTH)
    return page.render("_tail.html", events=events, when=lambda ms: iso_utc(ms / 1000))
