-- Schema version 13: the admin console (admin/console): operator keys, sessions, sign-in limits.

-- An operator's key (`tracking-edge keys create --operator`) sees every account in the
-- console, creates accounts and keys, and blocks or unblocks tracking domains.
ALTER TABLE api_keys ADD COLUMN operator INTEGER NOT NULL DEFAULT 0;

-- A signed-in browser. The cookie carries a random session id; only its SHA-256 is stored.
-- A session ends at expires_at, at sign-out (the row is deleted), or when its key is revoked.
-- account_id is the account the session is looking at: the key's own, or the one an operator
-- chose.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    key_id      INTEGER NOT NULL REFERENCES api_keys(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Sign-in attempts per client address and fixed window (window_start in seconds), kept in
-- the database so that the limit holds across worker processes and nodes.
CREATE TABLE signin_attempts (
    client        TEXT NOT NULL,
    window_start  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL,
    PRIMARY KEY (client, window_start)
) WITHOUT ROWID;
CREATE INDEX signin_attempts_window ON signin_attempts (window_start);
