-- Schema version 7: how far the ingester has read each event spool segment (edge/spool.py).
--
-- The ingester stores a segment's offset in the same transaction as the events it read up
-- to that offset, so a crash at any point neither loses nor repeats an event: the next
-- ingester starts where the last commit says. A row goes when its segment is deleted.
CREATE TABLE spool_progress (
    segment  TEXT PRIMARY KEY,
    offset   INTEGER NOT NULL
) WITHOUT ROWID;
