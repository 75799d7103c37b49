-- Schema version 9 on PostgreSQL: roll-up passes in parts that run at once. A node's events
-- are split by recipient into parts (edge/db/postgres/rollups.py: PARTS, part_of), each
-- counted by its own passes, in transactions of their own on connections of their own: a
-- pass is one backend's work, and one backend alone fell behind the ingest. Every unique key
-- holds one recipient, so its row is only ever written by its own part's passes.
ALTER TABLE rollup_progress ADD COLUMN part smallint NOT NULL DEFAULT 0 CHECK (part >= 0);
ALTER TABLE rollup_progress DROP CONSTRAINT rollup_progress_pkey;
ALTER TABLE rollup_progress ADD PRIMARY KEY (node, part);
ALTER TABLE rollup_progress ALTER COLUMN part DROP DEFAULT;

-- What a node's one pass had counted, every part of it has (parts 0 and 1: PARTS = 2).
INSERT INTO rollup_progress (node, part, batch)
SELECT node, 1, batch FROM rollup_progress WHERE part = 0;
