-- Schema version 12 on PostgreSQL: a message's first click is a flag on a link key. The
-- message-level click key (kind 'click', link '') of a recipient and message only repeated
-- what its link keys hold: its first click of any verdict is the first of one of its links,
-- and so is its first counted one. Those keys were a quarter of all keys, and inserting
-- them, each click joined to two kinds of key, a quarter of a roll-up pass. Now the link key
-- whose first event is the message's first click carries ``message_any``, the one whose
-- first counted event is the message's first counted click carries ``message_counted`` (set
-- only while its ``counted_event`` is).
ALTER TABLE engagement_keys
    ADD COLUMN message_any boolean NOT NULL DEFAULT false,
    ADD COLUMN message_counted boolean NOT NULL DEFAULT false;

-- The link key that holds the click key's event (each event has one link, so one key), or,
-- should none hold it (a counted scope handed over in another order than its link's), the
-- one with its links' first, as a relabel's hand-over now chooses.
UPDATE engagement_keys l SET message_any = true
FROM engagement_keys c
WHERE c.kind = 'click' AND l.kind = 'link' AND l.account_id = c.account_id
  AND l.recipient = c.recipient AND l.message = c.message
  AND l.any_event = (SELECT coalesce(max(f.any_event) FILTER (WHERE f.any_event = c.any_event),
                                     min(f.any_event))
                     FROM engagement_keys f WHERE f.account_id = c.account_id
                       AND f.recipient = c.recipient AND f.message = c.message
                       AND f.kind = 'link');
UPDATE engagement_keys l SET message_counted = true
FROM engagement_keys c
WHERE c.kind = 'click' AND c.counted_event IS NOT NULL AND l.kind = 'link'
  AND l.account_id = c.account_id AND l.recipient = c.recipient AND l.message = c.message
  AND l.counted_event = (SELECT coalesce(max(f.counted_event)
                                           FILTER (WHERE f.counted_event = c.counted_event),
                                         min(f.counted_event))
                         FROM engagement_keys f WHERE f.account_id = c.account_id
                           AND f.recipient = c.recipient AND f.message = c.message
                           AND f.kind = 'link');

-- Where the counted flag went to another event than the click key's (the second case
-- above), the roll-ups still credit the click key's event: migration 13 moves the credit.
CREATE TABLE message_click_moves AS
SELECT c.counted_event AS old_id, c.counted_ts_ms AS old_ts,
       l.counted_event AS new_id, l.counted_ts_ms AS new_ts
FROM engagement_keys c JOIN engagement_keys l
  ON l.kind = 'link' AND l.message_counted AND l.account_id = c.account_id
 AND l.recipient = c.recipient AND l.message = c.message
WHERE c.kind = 'click' AND c.counted_event IS NOT NULL AND l.counted_event <> c.counted_event;

DROP VIEW engagement_firsts;
DELETE FROM engagement_keys WHERE kind = 'click';
ALTER TABLE engagement_keys DROP CONSTRAINT engagement_keys_kind_check;
ALTER TABLE engagement_keys ADD CONSTRAINT engagement_keys_kind_check
    CHECK (kind IN ('open', 'link'));

-- The keys as rows per kind and scope, the message-level click keys among them, for what
-- reads them on either engine (erasure checks, migrate-to's counts, tests). Only reads.
CREATE VIEW engagement_firsts AS
SELECT account_id, kind, 1::smallint AS scope, message, recipient, link,
       any_event AS event_id, any_ts_ms AS ts_ms
FROM engagement_keys
UNION ALL
SELECT account_id, kind, 0::smallint, message, recipient, link, counted_event, counted_ts_ms
FROM engagement_keys
WHERE counted_event IS NOT NULL
UNION ALL
SELECT account_id, 'click' COLLATE "C", 1::smallint, message, recipient, '' COLLATE "C",
       any_event, any_ts_ms
FROM engagement_keys
WHERE message_any
UNION ALL
SELECT account_id, 'click' COLLATE "C", 0::smallint, message, recipient, '' COLLATE "C",
       counted_event, counted_ts_ms
FROM engagement_keys
WHERE message_counted AND counted_event IS NOT NULL;
