-- Schema version 5: the admin console (admin/console), as SQLite's version 13: operator keys,
-- sessions, sign-in limits.

-- An operator's key (`tracking-edge keys create --operator`) sees every account in the
-- console, creates accounts and keys, and blocks or unblocks tracking domains.
ALTER TABLE api_keys ADD COLUMN operator smallint NOT NULL DEFAULT 0;

-- A signed-in browser. The cookie carries a random session id; only its SHA-256 is stored.
-- A session ends at expires_at, at sign-out (the row is deleted), or when its key is revoked.
-- account_id is the account the session is looking at: the key's own, or the one an operator
-- chose.
CREATE TABLE console_sessions (
    id_hash     text PRIMARY KEY,
    key_id      bigint NOT NULL REFERENCES api_keys(id),
    account_id  bigint NOT NULL REFERENCES accounts(id),
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Sign-in attempts per client address and fixed window (window_start in seconds), shared by
-- every node of the cluster so that the limit holds across them.
CREATE TABLE signin_attempts (
    client        text NOT NULL,
    window_start  bigint NOT NULL,
    attempts      integer NOT NULL,
    PRIMARY KEY (client, window_start)
);
CREATE INDEX signin_attempts_window ON signin_attempts (window_start);
