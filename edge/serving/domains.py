"""The in-memory domain table: which hosts the edge serves, and for which account.

Every worker keeps the whole table in a dict, so a request costs one dict lookup and no
database read. A background task polls the store's change counter (one tiny query every
``poll_interval``) and reloads the table when it moved, so a domain verified, blocked or
deleted by any process is served, or refused, within a second. On a shared database the
table is also saved on the node's disk, for a start while the database is down
(:mod:`edge.serving.snapshot`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

from edge.db.store import Store
from edge.model.domains import TrackingDomain, TrackingHost
from edge.serving.mirror import Mirror
from edge.serving.snapshot import Snapshot

log = logging.getLogger("edge.domains")


class DomainTable(Mirror):
    mirror_name = "domain-table"
    #: The name of its copy in the node's snapshot (edge/serving/snapshot.py).
    snapshot_name = "domains"

    def __init__(
        self,
        store: Store,
        *,
        default_domain: str,
        default_secure: bool = False,
        poll_interval: float = 0.25,
        snapshot: Snapshot | None = None,
    ) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.snapshot = snapshot
        self.default = TrackingHost(default_domain, None, default_secure, True)
        self._hosts: dict[str, TrackingHost] = {default_domain: self.default}
        self._version: int | None = None
        #: ``time.time()`` of the last load from the store, or when the copy restored at
        #: start was saved (``None``: never loaded).
        self.loaded_at: float | None = None

    def served(self, host: str | None) -> TrackingHost | None:
        """The entry for ``host`` if tracking paths are served there, else ``None``."""
        entry = self._hosts.get(host)  # type: ignore[arg-type]
        return entry if entry is not None and entry.served else None

    def get(self, host: str | None) -> TrackingHost | None:
        """The entry for ``host`` whatever its state (verification needs unverified ones)."""
        return self._hosts.get(host)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[TrackingHost]:
        return iter(self._hosts.values())

    async def refresh(self, *, force: bool = False) -> bool:
        """Reload when the store's change counter moved; return whether it did."""
        async with self.store.reading() as db:
            version = await db.domains.version()
            if not force and version == self._version:
                return False
            domains = await db.domains.all()
        self._hosts = self._build(domains)
        self._version = version
        self.loaded_at = time.time()
        await self._reloaded()
        return True

    def saved(self) -> object:
        return [dataclasses.asdict(h) for h in self._hosts.values() if h is not self.default]

    def restore(self, saved: Any) -> None:
        hosts = {h.domain: h for h in (TrackingHost(**fields) for fields in saved)}
        hosts[self.default.domain] = self.default  # as configured now, as in _build
        self._hosts = hosts
        self.loaded_at = self.snapshot.saved_at if self.snapshot is not None else None

    def _build(self, domains: list[TrackingDomain]) -> dict[str, TrackingHost]:
        hosts: dict[str, TrackingHost] = {}
        for r in domains:
            # Several accounts may claim a name, but only the verified row (at most one: a
            # unique index) is served, and no unverified claim may shadow it.
            known = hosts.get(r.domain)
            if known is None or (r.served and not known.served):
                hosts[r.domain] = TrackingHost(r.domain, r.account_id, r.secure, r.served, r.id)
        # The configured default always wins: no customer row can take it over.
        hosts[self.default.domain] = self.default
        return hosts
