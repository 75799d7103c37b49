-- Schema version 10: a table for the generated signing secret, as the shared store has it.
--
-- One machine keeps its generated secret in <data dir>/secret_keys; this table is read only
-- by `tracking-edge db migrate-to`, which carries that secret into a cluster's database.
CREATE TABLE signing_keys (
    position  INTEGER PRIMARY KEY,
    secret    TEXT NOT NULL
);
