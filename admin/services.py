"""The admin side's long-lived parts, built once per worker and started with the server.

The checks and the certificate provisioner are given by the caller (:mod:`admin.server`
wires the real ones; tests give doubles), so the domain service never builds its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from admin.accounts.service import Accounts
from admin.domains.provisioning import CertificateProvisioner
from admin.domains.sending import SendingDomains
from admin.domains.service import CnameChecker, DomainService, ReachChecker
from admin.domains.validation import DomainRules
from edge.config import Settings
from edge.db.store import Store
from edge.periodic import Periodic, once_per_cluster


@dataclass
class AdminServices:
    settings: Settings
    store: Store
    accounts: Accounts
    domains: DomainService
    sending: SendingDomains

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

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AdminServices]:
        """Re-check verified domains every ``EDGE_RECHECK_INTERVAL`` seconds while entered.

        The job wakes more often than the interval (at most every minute) so that domains
        verified at different times are each re-checked about one interval after their last
        check.
        """
        interval = self.settings.recheck_interval
        tick = max(min(interval / 4, 60.0), 0.05)
        recheck = once_per_cluster(
            self.store, "domain-recheck", lambda: self.domains.recheck_due(interval), interval=tick
        )
        async with Periodic("domain-recheck", recheck, interval=tick):
            yield self
