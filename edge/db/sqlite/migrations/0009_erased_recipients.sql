-- Schema version 9: erased recipients (issue 13: privacy, erasure).
--
-- An erasure deletes an account's events of one recipient reference, the unique keys they
-- opened and their queued webhook deliveries, and leaves a row here: the reference's SHA-256
-- (never the reference) and when. The ingester drops an event of that account and reference
-- served at or before that time, should one still arrive from a spool (edge/model/erasure.py).
-- Erasures and ingest transactions never interleave: here one writer runs at a time (on
-- PostgreSQL the change counter row is their guard); every erasure moves the counter.
CREATE TABLE erased_recipients (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    digest      TEXT NOT NULL,
    erased_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_id, digest)
) WITHOUT ROWID;
-- Each ingest batch looks only for erasures at or after its oldest event: usually none.
CREATE INDEX erased_recipients_time ON erased_recipients (erased_ms);
INSERT INTO change_counters (name, value) VALUES ('erased_recipients', 0);
