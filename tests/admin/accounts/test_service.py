from __future__ import annotations

import asyncio
import hashlib

import pytest

from admin.accounts.auth import key_from_header
from admin.accounts.service import Accounts, UnknownKey
from tests.stores import in_store, store_at


def with_accounts(tmp_path, work):
    async def go():
        async with store_at(tmp_path / "edge.sqlite3") as store:
            return await work(Accounts(store))

    return asyncio.run(go())


def rows(tmp_path, sql):
    """Raw rows: no repository reads key digests or lists every account."""
    return in_store(tmp_path / "edge.sqlite3", lambda db: db.conn.fetchall(sql), write=False)


def test_new_key_is_forty_hex_characters_stored_only_as_its_sha256(tmp_path):
    async def work(accounts):
        acme = await accounts.ensure("acme")
        return acme, await accounts.create_key(acme, "ci")

    acme, new = with_accounts(tmp_path, work)
    assert len(new.secret) == 40
    int(new.secret, 16)
    stored = rows(tmp_path, "SELECT account_id, key_hash, prefix, label FROM api_keys")
    digest = hashlib.sha256(new.secret.encode()).hexdigest()
    assert stored == [(acme.id, digest, new.secret[:6], "ci")]
    assert new.secret not in repr(rows(tmp_path, "SELECT * FROM api_keys"))


def test_ensure_creates_an_account_once(tmp_path):
    async def work(accounts):
        return await accounts.ensure("acme"), await accounts.ensure(" acme ")

    first, second = with_accounts(tmp_path, work)
    assert first == second
    assert rows(tmp_path, "SELECT id, name FROM accounts ORDER BY id") == [
        (1, "default"),
        (first.id, "acme"),
    ]


def test_key_authenticates_its_own_account_and_nothing_else(tmp_path):
    async def work(accounts):
        a = await accounts.ensure("a")
        b = await accounts.ensure("b")
        key_a = (await accounts.create_key(a)).secret
        key_b = (await accounts.create_key(b)).secret
        return (
            (a, await accounts.authenticate(key_a)),
            (b, await accounts.authenticate(key_b)),
            await accounts.authenticate(key_a.upper()),
            await accounts.authenticate("0" * 40),
        )

    (a, got_a), (b, got_b), upper, unknown = with_accounts(tmp_path, work)
    assert got_a == a and got_b == b
    assert upper is None and unknown is None


def test_revoked_key_no_longer_authenticates(tmp_path):
    async def work(accounts):
        acme = await accounts.ensure("acme")
        new = await accounts.create_key(acme)
        revoked = await accounts.revoke(new.key.id)
        again = await accounts.revoke(new.key.id)
        return revoked, again, await accounts.authenticate(new.secret)

    revoked, again, auth = with_accounts(tmp_path, work)
    assert revoked.revoked_at is not None and not revoked.active
    assert again.revoked_at == revoked.revoked_at
    assert auth is None


def test_revoking_an_unknown_key_raises(tmp_path):
    async def work(accounts):
        await accounts.revoke(999)

    with pytest.raises(UnknownKey):
        with_accounts(tmp_path, work)


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("14ac5499cfdd2bb2859e4476d2e5b1d2bad079bf", "14ac5499cfdd2bb2859e4476d2e5b1d2bad079bf"),
        ("Bearer abc123", "abc123"),
        ("bearer   abc123 ", "abc123"),
        ("Basic dXNlcjpwYXNz extra", None),
        ("", None),
        ("Bearer ", "Bearer"),
        (None, None),
    ],
)
def test_key_from_header_accepts_a_bare_key_or_a_bearer_token(header, key):
    assert key_from_header(header) == key
