-- Schema version 12: verification proves which account may use a name (issue 13, item 2).
--
-- Each account gets a CNAME target of its own, `<cname_label>.<EDGE_CNAME_TARGET>`: a name
-- verifies for the account whose target its CNAME names, so a CNAME left behind when an account
-- deletes its domain verifies for nobody else. The label is 80 random bits, unique: never
-- handed out twice (an account id may be, SQLite reuses the highest after a delete).
ALTER TABLE accounts ADD COLUMN cname_label TEXT;
UPDATE accounts SET cname_label = lower(hex(randomblob(10))) WHERE cname_label IS NULL;
CREATE UNIQUE INDEX accounts_cname_label ON accounts (cname_label);
-- ALTER TABLE cannot add a column with a random default: new accounts get theirs here.
CREATE TRIGGER accounts_cname_label AFTER INSERT ON accounts WHEN NEW.cname_label IS NULL BEGIN
    UPDATE accounts SET cname_label = lower(hex(randomblob(10))) WHERE id = NEW.id;
END;

-- Several accounts may claim one name; only the one that proves control verifies it, so a
-- claim can no longer squat a name: a name is unique per account, and among verified rows.
-- SQLite cannot drop a column constraint: the table is rebuilt (sqlite.org/lang_altertable.html),
-- with the view, triggers and indexes that hang on it.
DROP VIEW served_tracking_domains;
CREATE TABLE tracking_domains_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id         INTEGER NOT NULL REFERENCES accounts(id),
    domain             TEXT NOT NULL,
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
    updated_at         INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    checked_at         REAL,
    UNIQUE (account_id, domain)
);
INSERT INTO tracking_domains_new (id, account_id, domain, secure, is_default, cname_status,
        cname_reason, compliance_status, ssl_status, created_at, updated_at, checked_at)
    SELECT id, account_id, domain, secure, is_default, cname_status, cname_reason,
        compliance_status, ssl_status, created_at, updated_at, checked_at
    FROM tracking_domains;
-- Ids are never reused: the new table continues the old one's AUTOINCREMENT sequence.
DELETE FROM sqlite_sequence WHERE name = 'tracking_domains_new';
UPDATE sqlite_sequence SET name = 'tracking_domains_new' WHERE name = 'tracking_domains';
DROP TABLE tracking_domains;
ALTER TABLE tracking_domains_new RENAME TO tracking_domains;

CREATE INDEX tracking_domains_account ON tracking_domains (account_id);
CREATE INDEX tracking_domains_name ON tracking_domains (domain);
-- At most one verified row per name: the account that proved control last.
CREATE UNIQUE INDEX tracking_domains_one_verified ON tracking_domains (domain)
    WHERE cname_status = 'valid';
CREATE UNIQUE INDEX tracking_domains_one_default ON tracking_domains (account_id)
    WHERE is_default = 1;

CREATE VIEW served_tracking_domains AS
    SELECT * FROM tracking_domains
    WHERE cname_status = 'valid' AND compliance_status <> 'blocked';

CREATE TRIGGER tracking_domains_changed_insert AFTER INSERT ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;
CREATE TRIGGER tracking_domains_changed_update AFTER UPDATE ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;
CREATE TRIGGER tracking_domains_changed_delete AFTER DELETE ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;

-- A certificate is its name's verified owner's: it goes when a row that leaves the name (by
-- rename or delete) leaves no verified row behind. Another account's unverified claim going
-- away does not take the owner's certificate with it.
CREATE TRIGGER tracking_domains_renamed_drop_certificate
AFTER UPDATE OF domain ON tracking_domains WHEN OLD.domain <> NEW.domain AND NOT EXISTS (
    SELECT 1 FROM tracking_domains WHERE domain = OLD.domain AND cname_status = 'valid'
) BEGIN
    DELETE FROM certificates WHERE domain = OLD.domain;
    DELETE FROM certificate_jobs WHERE domain = OLD.domain;
    DELETE FROM acme_challenges WHERE domain = OLD.domain;
END;
CREATE TRIGGER tracking_domains_deleted_drop_certificate
AFTER DELETE ON tracking_domains WHEN NOT EXISTS (
    SELECT 1 FROM tracking_domains WHERE domain = OLD.domain AND cname_status = 'valid'
) BEGIN
    DELETE FROM certificates WHERE domain = OLD.domain;
    DELETE FROM certificate_jobs WHERE domain = OLD.domain;
    DELETE FROM acme_challenges WHERE domain = OLD.domain;
END;
