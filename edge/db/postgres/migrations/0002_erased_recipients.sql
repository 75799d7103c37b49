-- Schema version 2: erased recipients (issue 13: privacy, erasure), as SQLite's version 9.
--
-- An erasure deletes an account's events of one recipient reference, the unique keys they
-- opened and their queued webhook deliveries, and leaves a row here: the reference's SHA-256
-- (never the reference) and when. An ingester drops an event of that account and reference
-- served at or before that time, should one still arrive from a node's spool
-- (edge/model/erasure.py). The change counter row is the erasures' guard: an erasure updates
-- it first, every ingest transaction reads it FOR SHARE first, so the two never interleave;
-- an erasure also takes the roll-up pass's advisory lock, so no pass counts alongside it.
CREATE TABLE erased_recipients (
    account_id  bigint NOT NULL REFERENCES accounts(id),
    digest      text NOT NULL,
    erased_ms   bigint NOT NULL,
    PRIMARY KEY (account_id, digest)
);
-- Each ingest batch looks only for erasures at or after its oldest event: usually none.
CREATE INDEX erased_recipients_time ON erased_recipients (erased_ms);
INSERT INTO change_counters (name, value) VALUES ('erased_recipients', 0);
