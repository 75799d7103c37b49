"""Repositories: the SQL of each table group, in :mod:`edge.model` types.

:class:`Repositories` is what :meth:`edge.db.store.Store.reading` and
:meth:`~edge.db.store.Store.transaction` hand out: every repository on one connection.
The portable ones are written once here against :class:`edge.db.connection.Connection`;
writing events in bulk, counting them (roll-ups) and pruning them depend on the engine,
which supplies :attr:`~Repositories.event_writer` and :attr:`~Repositories.rollups`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Protocol

from edge.db.connection import Connection
from edge.db.repositories.accounts import AccountRepository
from edge.db.repositories.certificates import CertificateRepository
from edge.db.repositories.challenges import ChallengeRepository
from edge.db.repositories.domains import DomainRepository
from edge.db.repositories.erasures import ErasureRepository
from edge.db.repositories.events import EventRepository
from edge.db.repositories.keys import SigningKeyRepository
from edge.db.repositories.labels import LabelRepository
from edge.db.repositories.leases import LeaseRepository
from edge.db.repositories.privacy import PrivacyRepository
from edge.db.repositories.sending import SendingRepository
from edge.db.repositories.sessions import SessionRepository
from edge.db.repositories.spool import SpoolRepository
from edge.db.repositories.stats import StatsRepository
from edge.db.repositories.webhooks import WebhookRepository
from edge.model.events import Relabel


class EventWriter(Protocol):
    """Bulk writes of ``events``, the engine's fastest path."""

    async def insert(self, rows: Sequence[Sequence[object]]) -> None:
        """Rows in :data:`~edge.model.events.STORED_FIELDS` order; known ids are skipped."""

    async def prune(self, older_than_ms: int, limit: int) -> int:
        """Delete up to ``limit`` counted events older than ``older_than_ms``."""


class RollupRepository(Protocol):
    """Unique keys, hourly and daily roll-ups and the webhook queue, behind the ingester."""

    #: Passes that may run at once, each in a transaction of its own: the stored events are
    #: counted in this many parts (``count_next(part=)``), each with its own progress.
    parts: int

    async def pending(self) -> bool:
        """Whether stored events wait to be counted."""

    async def count_next(self, chunk: int, *, now_ms: int, part: int = 0) -> int:
        """Count up to ``chunk`` events of ``part`` not yet counted; returns how many were."""

    async def reclassify(self, relabels: Sequence[Relabel]) -> int:
        """Relabel stored events, moving their counts; returns how many changed."""


class Repositories:
    """Every repository, on one connection (or inside one transaction on it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self.conn)

    @cached_property
    def domains(self) -> DomainRepository:
        return DomainRepository(self.conn)

    @cached_property
    def sending(self) -> SendingRepository:
        return SendingRepository(self.conn)

    @cached_property
    def certificates(self) -> CertificateRepository:
        return CertificateRepository(self.conn)

    @cached_property
    def challenges(self) -> ChallengeRepository:
        return ChallengeRepository(self.conn)

    @cached_property
    def privacy(self) -> PrivacyRepository:
        return PrivacyRepository(self.conn)

    @cached_property
    def signing_keys(self) -> SigningKeyRepository:
        return SigningKeyRepository(self.conn)

    @cached_property
    def leases(self) -> LeaseRepository:
        return LeaseRepository(self.conn)

    @cached_property
    def labels(self) -> LabelRepository:
        return LabelRepository(self.conn)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        return WebhookRepository(self.conn)

    @cached_property
    def events(self) -> EventRepository:
        return EventRepository(self.conn)

    @cached_property
    def erasures(self) -> ErasureRepository:
        return ErasureRepository(self.conn)

    @cached_property
    def spool(self) -> SpoolRepository:
        return SpoolRepository(self.conn)

    @cached_property
    def stats(self) -> StatsRepository:
        return StatsRepository(self.conn)

    @cached_property
    def sessions(self) -> SessionRepository:
        return SessionRepository(self.conn)

    @property
    def event_writer(self) -> EventWriter:
        raise NotImplementedError

    @property
    def rollups(self) -> RollupRepository:
        raise NotImplementedError
