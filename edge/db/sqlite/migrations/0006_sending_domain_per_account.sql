-- Schema version 6: a sending domain's name is unique within its account, not across the edge.
--
-- Unique across all accounts, one account could squat another's sending domain, and probe
-- which names other accounts send from (a 409 told it). Sending domains only pick the
-- tracking domain of an account's own mail, so two accounts naming the same one is harmless.
-- SQLite cannot drop a column constraint: the table is rebuilt (sqlite.org/lang_altertable.html).

CREATE TABLE sending_domains_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          INTEGER NOT NULL REFERENCES accounts(id),
    domain              TEXT NOT NULL,
    tracking_domain_id  INTEGER REFERENCES tracking_domains(id) ON DELETE RESTRICT,
    created_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    updated_at          INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    UNIQUE (account_id, domain)
);
INSERT INTO sending_domains_new (id, account_id, domain, tracking_domain_id, created_at, updated_at)
    SELECT id, account_id, domain, tracking_domain_id, created_at, updated_at FROM sending_domains;
DROP TABLE sending_domains;
ALTER TABLE sending_domains_new RENAME TO sending_domains;
-- The unique index on (account_id, domain) serves lookups by account too.
CREATE INDEX sending_domains_tracking ON sending_domains (tracking_domain_id);
