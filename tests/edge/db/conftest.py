"""``make_store``: a new store on each engine (the data layer's tests run on both)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from edge.db.postgres.store import PostgresStore
from edge.db.sqlite.store import SQLiteStore
from edge.db.store import Store

MakeStore = Callable[..., Store]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(engine: str, request: pytest.FixtureRequest, tmp_path) -> MakeStore:
    """``make_store(node="a", **options)``: an unopened store on this test's database (the
    same database for every call, as several nodes share one)."""
    if engine == "sqlite":
        return lambda node="a", **options: SQLiteStore(tmp_path / "edge.sqlite3", **options)
    url = request.getfixturevalue("pg_url")
    return lambda node="a", **options: PostgresStore(url, node=node, **options)
