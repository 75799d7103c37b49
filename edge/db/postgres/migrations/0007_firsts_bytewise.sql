-- Schema version 7 on PostgreSQL: the unique keys are compared byte for byte, and only
-- their primary key is indexed. A roll-up pass inserts two or three keys per event; with
-- the database's collation (often a libc locale: strcoll per comparison, no abbreviated
-- sort keys) and a second B-tree on ts_ms that no query reads, those inserts were most of
-- the pass. The keys are opaque ids, never shown in order, so "C" is exact.
ALTER TABLE engagement_firsts
    ALTER COLUMN kind TYPE text COLLATE "C",
    ALTER COLUMN message TYPE text COLLATE "C",
    ALTER COLUMN recipient TYPE text COLLATE "C",
    ALTER COLUMN link TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";
DROP INDEX engagement_firsts_ts;
