"""Console sessions and sign-in attempts, on both engines."""

from __future__ import annotations

from edge.model.accounts import Account
from tests.stores import in_store


def _key(make_store, account: str = "acme", *, operator: bool = False) -> tuple[Account, int]:
    async def work(tx):
        acct = await tx.accounts.ensure(account, now=1)
        key = await tx.accounts.insert_key(acct, f"hash-{account}-{operator}", "abc123", None,
                                           now=1, operator=operator)  # fmt: skip
        return acct, key.id

    return in_store(make_store, work)


def test_a_session_reads_back_with_its_key_and_account_until_it_expires(make_store):
    acct, key_id = _key(make_store, operator=True)
    in_store(make_store, lambda tx: tx.sessions.create("h1", key_id, acct.id, now=10,
                                                       expires_at=20))  # fmt: skip
    found = in_store(make_store, lambda db: db.sessions.get("h1", now=19), write=False)
    assert (found.key.id, found.key.operator, found.account, found.created_at, found.expires_at) \
        == (key_id, True, acct, 10, 20)  # fmt: skip
    assert in_store(make_store, lambda db: db.sessions.get("h1", now=20), write=False) is None
    assert in_store(make_store, lambda db: db.sessions.get("h2", now=19), write=False) is None


def test_a_revoked_key_ends_its_sessions(make_store):
    acct, key_id = _key(make_store)
    in_store(make_store, lambda tx: tx.sessions.create("h1", key_id, acct.id, now=10,
                                                       expires_at=99))  # fmt: skip
    in_store(make_store, lambda tx: tx.accounts.revoke_key(key_id, now=11))
    assert in_store(make_store, lambda db: db.sessions.get("h1", now=12), write=False) is None


def test_a_session_can_look_at_another_account_and_be_deleted(make_store):
    acct, key_id = _key(make_store, operator=True)
    other, _ = _key(make_store, "globex")
    in_store(make_store, lambda tx: tx.sessions.create("h1", key_id, acct.id, now=10,
                                                       expires_at=99))  # fmt: skip
    in_store(make_store, lambda tx: tx.sessions.look_at("h1", other.id))
    found = in_store(make_store, lambda db: db.sessions.get("h1", now=12), write=False)
    assert (found.account, found.key.account) == (other, acct)
    in_store(make_store, lambda tx: tx.sessions.delete("h1"))
    assert in_store(make_store, lambda db: db.sessions.get("h1", now=12), write=False) is None


def test_creating_a_session_deletes_the_expired_ones(make_store):
    acct, key_id = _key(make_store)
    in_store(make_store, lambda tx: tx.sessions.create("old", key_id, acct.id, now=1,
                                                       expires_at=5))  # fmt: skip
    in_store(make_store, lambda tx: tx.sessions.create("new", key_id, acct.id, now=6,
                                                       expires_at=9))  # fmt: skip
    rows = in_store(make_store, lambda db: db.conn.fetchall(
        "SELECT id_hash FROM console_sessions"), write=False)  # fmt: skip
    assert [r[0] for r in rows] == ["new"]


def test_attempts_are_counted_per_client_and_window(make_store):
    def attempt(client: str, window: int) -> int:
        return in_store(make_store, lambda tx: tx.sessions.count_attempt(client, window))

    assert [attempt("192.0.2.1", 300) for _ in range(3)] == [1, 2, 3]
    assert attempt("192.0.2.2", 300) == 1
    assert attempt("192.0.2.1", 600) == 1  # a new window starts again
    rows = in_store(make_store, lambda db: db.conn.fetchall(
        "SELECT client, window_start FROM signin_attempts"), write=False)  # fmt: skip
    assert [tuple(r) for r in rows] == [("192.0.2.1", 600)]  # earlier windows forgotten
