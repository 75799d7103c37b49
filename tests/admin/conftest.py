"""The admin side's tests run on both engines: ``settings`` names SQLite in the data directory
or a fresh PostgreSQL database (the services and the API must not tell them apart)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from edge.config import Settings
from tests.conftest import SECRET


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh data directory (default tracking domain ``track.test``), on the
    engine of this run of the test."""
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_keys=(SECRET,),
        default_domain="track.test",
        admin_host="admin.test",
        domain_poll_interval=0.05,
    )
    if engine == "postgres":
        settings = replace(settings, database_url=request.getfixturevalue("pg_url"))
    return settings
