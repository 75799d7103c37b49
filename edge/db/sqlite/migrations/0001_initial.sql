-- Schema version 1: accounts, tracking domains, events.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

-- The built-in account owns the default tracking domain and signs the CLI's links.
INSERT INTO accounts (id, name) VALUES (1, 'default');

CREATE TABLE tracking_domains (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    domain             TEXT NOT NULL UNIQUE,
    secure             INTEGER NOT NULL DEFAULT 0,
    is_default         INTEGER NOT NULL DEFAULT 0,
    cname_status       TEXT NOT NULL DEFAULT 'unverified'
                       CHECK (cname_status IN ('unverified', 'pending', 'invalid', 'valid')),
    cname_reason       TEXT,
    compliance_status  TEXT NOT NULL DEFAULT 'pending'
                       CHECK (compliance_status IN ('pending', 'valid', 'blocked')),
    ssl_status         TEXT NOT NULL DEFAULT 'unavailable'
                       CHECK (ssl_status IN ('unavailable', 'provisioning', 'active', 'failed')),
    created_at         INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    updated_at         INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX tracking_domains_account ON tracking_domains (account_id);

-- One row per served click or open. The id is made at the edge (time-ordered hex), so a
-- batch replayed from the journal is inserted once whatever happened before.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL CHECK (type IN ('click', 'open', 'initial_open')),
    ts_ms       INTEGER NOT NULL,
    account_id  INTEGER NOT NULL,
    domain      TEXT NOT NULL,
    message     TEXT,
    recipient   TEXT,
    link        TEXT,
    url         TEXT,
    client_ip   TEXT,
    user_agent  TEXT,
    method      TEXT NOT NULL DEFAULT 'GET',
    prefetch    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_ts ON events (ts_ms);
