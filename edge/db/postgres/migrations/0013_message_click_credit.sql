-- Schema version 13 on PostgreSQL: a message's first counted click moved in the roll-ups.
-- Where migration 12 (or migrate-to, edge/db/transfer.py) found no link key holding a
-- message's first counted click (a click that arrived late took it over from one relabelled,
-- and its link was held by a later click), it flagged the key with the first counted click
-- of the message's links instead. The roll-ups still credited the old holder: a relabel of
-- the new one would then take the unique click from an hour and link that never had it
-- (-1), and give it back to the old one's (2). ``move_message_click`` moves that credit
-- from the old holder's hourly and daily rows to the new one's, if both events are stored.
CREATE FUNCTION move_message_click(old_id text, old_ts bigint, new_id text, new_ts bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rollup record;
BEGIN
    -- Each event's hour (day) and link name its rows: none to move if one is gone.
    IF (SELECT count(*) FROM events WHERE (id = old_id AND ts_ms = old_ts)
        OR (id = new_id AND ts_ms = new_ts)) < 2 THEN
        RETURN;
    END IF;
    FOR rollup IN SELECT * FROM (VALUES ('rollups_hourly', 3600000), ('rollups_daily', 86400000))
        AS t(name, size) LOOP
        -- Summed per row first: both events in one hour (day) move nothing there.
        EXECUTE format(
            'UPDATE %I r SET uniq_counted = r.uniq_counted + d.delta FROM ('
            'SELECT e.account_id, e.domain, e.ts_ms - e.ts_ms %% %s AS bucket, '
            'coalesce(e.message, '''') AS message, coalesce(e.link, '''') AS link, e.type, '
            'e.verdict, sum(CASE WHEN e.id = $1 THEN -1 ELSE 1 END) AS delta FROM events e '
            'WHERE (e.id = $1 AND e.ts_ms = $2) OR (e.id = $3 AND e.ts_ms = $4) '
            'GROUP BY 1, 2, 3, 4, 5, 6, 7) d WHERE d.delta <> 0 '
            'AND (r.account_id, r.domain, r.bucket, r.message, r.link, r.type, r.verdict) '
            '= (d.account_id, d.domain, d.bucket, d.message, d.link, d.type, d.verdict)',
            rollup.name, rollup.size
        ) USING old_id, old_ts, new_id, new_ts;
    END LOOP;
END $$;

-- The moves migration 12 recorded (none where it ran before it recorded them).
CREATE TABLE IF NOT EXISTS message_click_moves (
    old_id text, old_ts bigint, new_id text, new_ts bigint
);
SELECT move_message_click(old_id, old_ts, new_id, new_ts) FROM message_click_moves;
DROP TABLE message_click_moves;
