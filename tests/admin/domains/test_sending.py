"""Sending domains: names unique within an account (migration 0006), not across the edge."""

from __future__ import annotations

import sqlite3

import pytest

from edge.db.sqlite.migrate import migrate
from edge.model.sending import SendingDomain
from tests.stores import in_store

SENDING = "/api/v1/customer/domains"


def test_two_accounts_may_each_have_the_same_sending_domain(admin):
    with admin.as_account("acme") as a, admin.as_account("other") as b:
        first = a.post(SENDING, json={"domain": "mail.brand.com"})
        second = b.post(SENDING, json={"domain": "mail.brand.com"})
        again = a.post(SENDING, json={"domain": "Mail.Brand.com"})
        listed = [a.get(SENDING).json()["data"], b.get(SENDING).json()["data"]]
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["data"]["id"] != second.json()["data"]["id"]
    assert again.status_code == 409
    assert again.json() == {
        "error": {
            "status": 409,
            "code": "conflict",
            "message": "The sending domain already exists.",
            "field": "domain",
        }
    }
    assert [[d["domain"] for d in data] for data in listed] == [
        ["mail.brand.com"],
        ["mail.brand.com"],
    ]


def test_migration_6_keeps_rows_and_makes_names_unique_per_account(tmp_path):
    path = tmp_path / "edge.sqlite3"
    assert migrate(path, upto=5) == 5
    # Rows in the schema of version 5, which no repository speaks.
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO accounts (id, name) VALUES (2, 'a'), (3, 'b')")
        db.execute(
            "INSERT INTO sending_domains (id, account_id, domain, created_at, updated_at) "
            "VALUES (7, 2, 'mail.brand.com', 100, 200)"
        )
    assert migrate(path, upto=6) == 6
    other = in_store(path, lambda tx: tx.sending.insert(3, "mail.brand.com", None, now=300))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        in_store(path, lambda tx: tx.sending.insert(2, "mail.brand.com", None, now=400))

    async def both(db):
        return await db.sending.in_account(2) + await db.sending.in_account(3)

    assert in_store(path, both, write=False) == [
        SendingDomain(7, 2, "mail.brand.com", None, None, 100, 200),
        SendingDomain(other, 3, "mail.brand.com", None, None, 300, 300),
    ]
    assert other == 8
