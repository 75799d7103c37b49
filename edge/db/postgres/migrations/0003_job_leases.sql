-- Schema version 3: leases of the cluster-wide background jobs (edge/db/repositories/leases.py).
CREATE TABLE job_leases (
    name   text PRIMARY KEY,
    owner  text NOT NULL,
    until  double precision NOT NULL
);
