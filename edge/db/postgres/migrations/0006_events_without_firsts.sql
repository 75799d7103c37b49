-- Schema version 6 on PostgreSQL: which unique keys an event opened is read from
-- engagement_firsts (its event_id), so a roll-up pass never rewrites the events it counts.
-- The bits on the events were a copy of those rows; nothing reads them any more.
ALTER TABLE events DROP COLUMN firsts;
