"""Admin API fixtures: API keys for accounts on a live server, and test doubles for the
checks and the certificate provisioner the domain service is given."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.conftest import LiveServer


def make_key(live: LiveServer, account: str) -> str:
    """Create ``account`` if needed on ``live`` and return a new API key for it."""
    services = live.app.admin_app.state.services  # type: ignore[union-attr]

    async def create() -> str:
        acct = await services.accounts.ensure(account)
        return (await services.accounts.create_key(acct)).secret

    return live.call(create)


@pytest.fixture
def api_key(live_server: LiveServer) -> Callable[[str], str]:
    """``api_key("acme")``: a fresh key for account ``acme`` on ``live_server``."""
    return lambda account="acme": make_key(live_server, account)
