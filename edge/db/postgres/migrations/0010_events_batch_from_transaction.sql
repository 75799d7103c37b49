-- Schema version 10 on PostgreSQL: an ingest transaction's events take their node and batch
-- from the transaction (``edge.node`` and ``edge.batch``, set together with the node's next
-- batch number, edge/db/postgres/events.py), so the rows sent by COPY carry only the event:
-- the ingester no longer rebuilds every row to append the same two values. A row inserted
-- where neither is set fails, rather than being stored without its batch.
ALTER TABLE events ALTER COLUMN node SET DEFAULT current_setting('edge.node');
ALTER TABLE events ALTER COLUMN batch SET DEFAULT current_setting('edge.batch')::bigint;
