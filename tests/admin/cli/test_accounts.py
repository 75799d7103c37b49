"""``tracking-edge keys ...`` and ``tracking-edge domains block/unblock``."""

from __future__ import annotations

import hashlib

import pytest

from admin.cli.main import main
from tests.domain_states import add_domain
from tests.stores import in_store


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.setenv("EDGE_SECRET_KEYS", "cli-test-secret")
    return path


def read(data_dir, work):
    """``work(repositories)`` on the CLI's database."""
    return in_store(data_dir / "edge.sqlite3", work, write=False)


def write(data_dir, work):
    return in_store(data_dir / "edge.sqlite3", work)


def query(data_dir, sql):
    """Raw rows, for what no repository reads (key digests, the list of accounts)."""
    return read(data_dir, lambda db: db.conn.fetchall(sql))


def test_keys_create_prints_the_key_once_and_stores_its_hash(data_dir, capsys, monkeypatch):
    monkeypatch.setenv("EDGE_CNAME_TARGET", "edge.example")
    assert main(["keys", "create", "--account", "acme", "--label", "ci"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert len(key) == 40 and out == key + "\n"
    ((label,),) = query(data_dir, "SELECT cname_label FROM accounts WHERE name = 'acme'")
    assert err == (
        "key 1 for account 'acme' (id 2); it is shown only this once; the account's tracking "
        f"domains point their CNAME at {label}.edge.example\n"
    )
    assert query(data_dir, "SELECT key_hash, label FROM api_keys") == [
        (hashlib.sha256(key.encode()).hexdigest(), "ci")
    ]


def test_keys_create_operator_marks_the_key_as_the_operators(data_dir, capsys):
    assert main(["keys", "create", "--account", "platform", "--operator"]) == 0
    main(["keys", "create", "--account", "acme"])
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(
        "operator key 1 for account 'platform' (id 2); it is shown only this once; "
    )
    assert query(data_dir, "SELECT id, operator FROM api_keys ORDER BY id") == [(1, 1), (2, 0)]


def test_keys_create_reuses_an_existing_account(data_dir, capsys):
    main(["keys", "create", "--account", "acme"])
    main(["keys", "create", "--account", "acme"])
    capsys.readouterr()
    assert query(data_dir, "SELECT name FROM accounts ORDER BY id") == [("default",), ("acme",)]
    assert [key.account.id for key in read(data_dir, lambda db: db.accounts.keys())] == [2, 2]


def test_keys_list_shows_prefixes_never_keys(data_dir, capsys):
    main(["keys", "create", "--account", "acme", "--label", "ci"])
    key = capsys.readouterr().out.strip()
    assert main(["keys", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id\taccount\tprefix\tcreated\trevoked\tlabel"
    fields = lines[1].split("\t")
    assert fields[:3] == ["1", "acme", key[:6] + "…"]
    assert fields[4:] == ["-", "ci"]
    assert key not in "\n".join(lines)


def test_keys_list_for_an_unknown_account_fails(data_dir, capsys):
    assert main(["keys", "list", "--account", "nobody"]) == 1
    assert capsys.readouterr().err == "tracking-edge: error: no account named 'nobody'\n"


def test_keys_revoke_marks_the_key_revoked(data_dir, capsys):
    main(["keys", "create", "--account", "acme"])
    capsys.readouterr()
    assert main(["keys", "revoke", "1"]) == 0
    assert capsys.readouterr().out.startswith("key 1 of account 'acme' revoked at ")
    (key,) = read(data_dir, lambda db: db.accounts.keys())
    assert key.revoked_at is not None


def test_keys_revoke_of_an_unknown_id_fails(data_dir, capsys):
    assert main(["keys", "revoke", "7"]) == 1
    assert capsys.readouterr().err == "tracking-edge: error: no key with id 7\n"


def test_domains_block_and_unblock_set_compliance_status(data_dir, capsys):
    main(["keys", "create", "--account", "acme"])
    capsys.readouterr()
    write(data_dir, lambda tx: add_domain(tx, 2, "t.brand.com", default=True))
    assert main(["domains", "block", "T.Brand.com."]) == 0
    assert capsys.readouterr().out == "t.brand.com: compliance_status blocked\n"
    domains = read(data_dir, lambda db: db.domains.all())
    assert [(d.compliance_status, d.is_default) for d in domains] == [("blocked", False)]
    assert main(["domains", "unblock", "t.brand.com"]) == 0
    assert capsys.readouterr().out == "t.brand.com: compliance_status valid\n"


def test_domains_block_of_an_unknown_domain_fails(data_dir, capsys):
    assert main(["domains", "block", "nothing.example"]) == 1
    assert capsys.readouterr().err == "tracking-edge: error: no tracking domain nothing.example\n"


def test_domains_list_shows_every_account_or_one(data_dir, capsys):
    main(["keys", "create", "--account", "acme"])
    main(["keys", "create", "--account", "other"])
    capsys.readouterr()

    async def add(tx):
        await add_domain(
            tx, 2, "t.brand.com", secure=True, cname="invalid", reason="no such name: t.brand.com"
        )
        await add_domain(tx, 3, "o.other.com", cname="unverified")

    write(data_dir, add)
    assert main(["domains", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "id\taccount\tdomain\tsecure\tdefault\tcname\tcompliance\tssl\treason",
        "1\tacme\tt.brand.com\tyes\tno\tinvalid\tpending\tunavailable\tno such name: t.brand.com",
        "2\tother\to.other.com\tno\tno\tunverified\tpending\tunavailable\t",
    ]
    assert main(["domains", "list", "--account", "other"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["domains", "list", "--account", "nobody"]) == 1
