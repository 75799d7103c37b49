"""The admin side's long-lived parts, built once per worker and started with the server.

The checks and the certificate provisioner are given by the caller (:mod:`admin.server`
wires the real ones; tests give doubles), so the domain service never builds its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from admin.accounts.service import Accounts
from admin.domains.provisioning import CertificateProvisioner
from admin.domains.sending import SendingDomains
from admin.domains.service import CnameChecker, DomainService, ReachChecker
from admin.domains.validation import DomainRules
from edge.config import Settings
from edge.db.store import Store

log = logging.getLogger("admin.services")


@dataclass
class AdminServices:
    settings: Settings
    store: Store
    accounts: Accounts
    domains: DomainService
    sending: SendingDomains
    _recheck: asyncio.Task | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        cname: CnameChecker,
        reach: ReachChecker,
        provisioner: CertificateProvisioner | None,
        store: Store,
    ) -> AdminServices:
        rules = DomainRules.from_settings(settings)
        domains = DomainService(
            store, rules, cname, reach, provisioner, cname_target=settings.cname_target
        )
        return cls(settings, store, Accounts(store), domains, SendingDomains(store, rules))

    async def start(self) -> None:
        self._recheck = asyncio.create_task(self._recheck_loop(), name="domain-recheck")

    async def stop(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck
            self._recheck = None

    async def _recheck_loop(self) -> None:
        """Re-check verified domains every ``EDGE_RECHECK_INTERVAL`` seconds.

        It wakes more often than the interval (at most every minute) so that domains verified
        at different times are each re-checked about one interval after their last check.
        """
        interval = self.settings.recheck_interval
        tick = max(min(interval / 4, 60.0), 0.05)
        while True:
            try:
                await self.domains.recheck_due(interval)
            except Exception:
                log.exception("scheduled re-check failed")
            await asyncio.sleep(tick)
