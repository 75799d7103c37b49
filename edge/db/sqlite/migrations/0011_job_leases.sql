-- Schema version 11: leases of the cluster-wide background jobs (edge/db/repositories/leases.py).
CREATE TABLE job_leases (
    name   TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    until  REAL NOT NULL
);
