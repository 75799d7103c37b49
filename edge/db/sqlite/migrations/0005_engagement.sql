-- Schema version 5: engagement data people can trust (issue 6).

-- Every event keeps its raw fields and gets a verdict and the rule that produced it
-- (edge/classify.py). `firsts` is a bit set of the unique counts this event opened
-- (edge/ingest.py: FIRST_* bits), so a relabelled event can hand its place to the next one.
ALTER TABLE events ADD COLUMN verdict TEXT NOT NULL DEFAULT 'human'
    CHECK (verdict IN ('human', 'machine_open', 'proxy_open', 'scanner', 'bot'));
ALTER TABLE events ADD COLUMN rule TEXT NOT NULL DEFAULT 'default';
ALTER TABLE events ADD COLUMN firsts INTEGER NOT NULL DEFAULT 0;
-- A relabelled click hands its unique keys to the next click of the same message and
-- recipient. Only clicks are ever relabelled, so only clicks are indexed: every index costs
-- the writer time on each insert.
CREATE INDEX events_clicks_by_message ON events (account_id, message, recipient)
    WHERE type = 'click';

-- The first event of each unique key: (message, recipient) for opens and clicks,
-- (message, recipient, link) for clicks on one link; scope 0 counts people only (human,
-- proxy_open), scope 1 every verdict. `recipient` and `link` are '' when absent.
CREATE TABLE engagement_firsts (
    account_id  INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('open', 'click', 'link')),
    scope       INTEGER NOT NULL CHECK (scope IN (0, 1)),
    message     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    link        TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    ts_ms       INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, scope, message, recipient, link)
) WITHOUT ROWID;
CREATE INDEX engagement_firsts_ts ON engagement_firsts (ts_ms);

-- How far edge/rollup.py has read the events table (by rowid): events above the mark have
-- not been counted in engagement_firsts, the roll-ups or the webhook queue yet.
CREATE TABLE rollup_state (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO rollup_state (name, value) VALUES ('events', 0);

-- Roll-ups the stats API reads, kept when raw events are pruned. One row per bucket, tracking
-- domain, message, link, type and verdict; `bucket` is the start of the hour (or UTC day) in
-- milliseconds. The uniq_* columns count events that opened a unique key (see above).
CREATE TABLE rollups_hourly (
    account_id         INTEGER NOT NULL,
    domain             TEXT NOT NULL,
    bucket             INTEGER NOT NULL,
    message            TEXT NOT NULL,
    link               TEXT NOT NULL,
    type               TEXT NOT NULL,
    verdict            TEXT NOT NULL,
    events             INTEGER NOT NULL DEFAULT 0,
    uniq_counted       INTEGER NOT NULL DEFAULT 0,
    uniq_any           INTEGER NOT NULL DEFAULT 0,
    link_uniq_counted  INTEGER NOT NULL DEFAULT 0,
    link_uniq_any      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, domain, bucket, message, link, type, verdict)
) WITHOUT ROWID;
CREATE INDEX rollups_hourly_account ON rollups_hourly (account_id, bucket);

CREATE TABLE rollups_daily (
    account_id         INTEGER NOT NULL,
    domain             TEXT NOT NULL,
    bucket             INTEGER NOT NULL,
    message            TEXT NOT NULL,
    link               TEXT NOT NULL,
    type               TEXT NOT NULL,
    verdict            TEXT NOT NULL,
    events             INTEGER NOT NULL DEFAULT 0,
    uniq_counted       INTEGER NOT NULL DEFAULT 0,
    uniq_any           INTEGER NOT NULL DEFAULT 0,
    link_uniq_counted  INTEGER NOT NULL DEFAULT 0,
    link_uniq_any      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, domain, bucket, message, link, type, verdict)
) WITHOUT ROWID;
CREATE INDEX rollups_daily_account ON rollups_daily (account_id, bucket);

-- Campaign and tags of a message, set through the API, for the stats filters.
CREATE TABLE message_labels (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    kind        TEXT NOT NULL CHECK (kind IN ('campaign', 'tag')),
    label       TEXT NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (account_id, kind, label, message)
) WITHOUT ROWID;
CREATE INDEX message_labels_message ON message_labels (account_id, message);

-- Per-account privacy and tracking switches, applied by the event writer at record time.
CREATE TABLE account_settings (
    account_id    INTEGER PRIMARY KEY REFERENCES accounts(id),
    client_ip     TEXT NOT NULL DEFAULT 'full' CHECK (client_ip IN ('full', 'truncated', 'none')),
    user_agent    TEXT NOT NULL DEFAULT 'full' CHECK (user_agent IN ('full', 'none')),
    track_opens   INTEGER NOT NULL DEFAULT 1,
    track_clicks  INTEGER NOT NULL DEFAULT 1,
    updated_at    INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
INSERT INTO change_counters (name, value) VALUES ('account_settings', 0);
CREATE TRIGGER account_settings_changed_insert AFTER INSERT ON account_settings BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'account_settings';
END;
CREATE TRIGGER account_settings_changed_update AFTER UPDATE ON account_settings BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'account_settings';
END;
CREATE TRIGGER account_settings_changed_delete AFTER DELETE ON account_settings BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'account_settings';
END;

-- Webhook endpoints and their delivery queue (admin/webhooks.py). The roll-up pass enqueues
-- (endpoint, event) in the transaction that counts the event, so every stored event is
-- enqueued exactly once. `event_types` is a comma-wrapped list (",click,open,") matched with
-- instr(). Retries back off per endpoint (`failures`, `retry_at_ms`): a receiver that is down
-- gets one attempt per backoff step, not one per new event.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts(id),
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    event_types      TEXT NOT NULL,
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
    failures         INTEGER NOT NULL DEFAULT 0,
    retry_at_ms      INTEGER NOT NULL DEFAULT 0,
    last_success_ms  INTEGER,
    last_error_ms    INTEGER,
    last_error       TEXT,
    delivered        INTEGER NOT NULL DEFAULT 0,
    expired          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id);

-- A row leased by a worker (lease_until_ms in the future) is in flight; a lease left by a
-- process that died runs out and the row is delivered again, with the same event id.
CREATE TABLE webhook_queue (
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL,
    enqueued_ms      INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_until_ms   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;
