-- Schema version 3: API keys, sending domains, and what the domain service needs.

-- Keys are stored as the SHA-256 of the key: the key itself is shown once, at creation.
-- A 160-bit random key needs no salt or slow hash: nothing can be guessed from the digest.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    key_hash    TEXT NOT NULL UNIQUE,
    -- The first characters of the key, so that people can tell their keys apart in a list.
    prefix      TEXT NOT NULL,
    label       TEXT,
    created_at  INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    revoked_at  INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- When the CNAME was last checked (verify or the scheduled re-check), in seconds with a
-- fraction: the re-check claims a domain by moving it, so it must not repeat within a second.
ALTER TABLE tracking_domains ADD COLUMN checked_at REAL;

-- One default tracking domain per account, enforced by the database as well as the service.
CREATE UNIQUE INDEX tracking_domains_one_default ON tracking_domains (account_id)
    WHERE is_default = 1;

-- The domains an account sends from; each may use one of the account's tracking domains.
-- Deleting a tracking domain in use is refused (409) until it is unassigned: RESTRICT.
CREATE TABLE sending_domains (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    domain              TEXT NOT NULL UNIQUE,
    tracking_domain_id  INTEGER REFERENCES tracking_domains(id) ON DELETE RESTRICT,
    created_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    updated_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX sending_domains_account ON sending_domains (account_id);
CREATE INDEX sending_domains_tracking ON sending_domains (tracking_domain_id);
