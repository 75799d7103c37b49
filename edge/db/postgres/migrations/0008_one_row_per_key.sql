-- Schema version 8 on PostgreSQL: one row per unique key, carrying both scopes. A key
-- (account, kind, message, recipient, link) was two rows, one per scope: the first event of
-- any verdict (scope 1) and the first of a counted verdict (scope 0), nearly always the
-- same event. Inserting those rows was most of a roll-up pass; one row per key halves them.
-- ``counted_event`` stays empty while only machines' events have the key.
CREATE TABLE engagement_keys (
    account_id     bigint NOT NULL,
    kind           text COLLATE "C" NOT NULL CHECK (kind IN ('open', 'click', 'link')),
    message        text COLLATE "C" NOT NULL,
    recipient      text COLLATE "C" NOT NULL,
    link           text COLLATE "C" NOT NULL,
    any_event      text COLLATE "C" NOT NULL,
    any_ts_ms      bigint NOT NULL,
    counted_event  text COLLATE "C",
    counted_ts_ms  bigint,
    PRIMARY KEY (account_id, kind, message, recipient, link)
);

-- A scope-0 row without its scope-1 row cannot be made by any pass; should one exist, its
-- event is the key's first of any verdict too.
INSERT INTO engagement_keys
SELECT account_id, kind, message, recipient, link,
       coalesce(min(event_id) FILTER (WHERE scope = 1), min(event_id) FILTER (WHERE scope = 0)),
       coalesce(min(ts_ms) FILTER (WHERE scope = 1), min(ts_ms) FILTER (WHERE scope = 0)),
       min(event_id) FILTER (WHERE scope = 0),
       min(ts_ms) FILTER (WHERE scope = 0)
FROM engagement_firsts
GROUP BY account_id, kind, message, recipient, link;

DROP TABLE engagement_firsts;

-- The keys as they were, one row per scope, for what reads them on either engine (erasure
-- checks, migrate-to's counts, tests). Only reads: writes go to engagement_keys.
CREATE VIEW engagement_firsts AS
SELECT account_id, kind, 1::smallint AS scope, message, recipient, link,
       any_event AS event_id, any_ts_ms AS ts_ms
FROM engagement_keys
UNION ALL
SELECT account_id, kind, 0::smallint, message, recipient, link, counted_event, counted_ts_ms
FROM engagement_keys
WHERE counted_event IS NOT NULL;
