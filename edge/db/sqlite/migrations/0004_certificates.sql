-- Schema version 4: TLS certificates, ACME HTTP-01 challenges, and issuance jobs.
--
-- Certificates are keyed by host name, the SNI name the TLS listener looks up. Every worker
-- keeps them in memory and polls the 'certificates' change counter, so a certificate issued
-- or renewed by any process is served within a poll interval, without a restart.

CREATE TABLE certificates (
    domain      TEXT PRIMARY KEY,
    chain_pem   TEXT NOT NULL,      -- leaf first, then the intermediates
    key_pem     TEXT NOT NULL,
    serial      TEXT NOT NULL,      -- hex
    issuer      TEXT NOT NULL,
    not_before  INTEGER NOT NULL,   -- seconds since the epoch
    not_after   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

INSERT INTO change_counters (name, value) VALUES ('certificates', 0);

CREATE TRIGGER certificates_changed_insert AFTER INSERT ON certificates BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'certificates';
END;
CREATE TRIGGER certificates_changed_update AFTER UPDATE ON certificates BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'certificates';
END;
CREATE TRIGGER certificates_changed_delete AFTER DELETE ON certificates BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'certificates';
END;

-- Pending HTTP-01 challenges, in the database so that whichever worker the CA's validator
-- reaches can answer (RFC 8555 §8.3).
CREATE TABLE acme_challenges (
    token              TEXT PRIMARY KEY,
    domain             TEXT NOT NULL,
    key_authorization  TEXT NOT NULL,
    created_at         INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);

-- One row per host name being (or last) issued: the lease that lets one process issue at a
-- time, the retry schedule, and the CA's reason for the last failure.
CREATE TABLE certificate_jobs (
    domain           TEXT PRIMARY KEY,
    lease_owner      TEXT,
    lease_until      REAL NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL DEFAULT 0,
    reason           TEXT
);

-- A renamed or deleted tracking domain loses its certificate, whoever changed the row.
CREATE TRIGGER tracking_domains_renamed_drop_certificate
AFTER UPDATE OF domain ON tracking_domains WHEN OLD.domain <> NEW.domain BEGIN
    DELETE FROM certificates WHERE domain = OLD.domain;
    DELETE FROM certificate_jobs WHERE domain = OLD.domain;
    DELETE FROM acme_challenges WHERE domain = OLD.domain;
END;
CREATE TRIGGER tracking_domains_deleted_drop_certificate
AFTER DELETE ON tracking_domains BEGIN
    DELETE FROM certificates WHERE domain = OLD.domain;
    DELETE FROM certificate_jobs WHERE domain = OLD.domain;
    DELETE FROM acme_challenges WHERE domain = OLD.domain;
END;
