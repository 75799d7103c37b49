-- Schema version 2: a counter bumped by every change to tracking_domains.
--
-- Each worker keeps the domain table in memory and polls this one row a few times a second,
-- reloading the table only when it moved: changes made by any process (the admin API, the CLI,
-- another worker) are seen within a second, without a database read per request.

CREATE TABLE change_counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO change_counters (name, value) VALUES ('tracking_domains', 0);

CREATE TRIGGER tracking_domains_changed_insert AFTER INSERT ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;
CREATE TRIGGER tracking_domains_changed_update AFTER UPDATE ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;
CREATE TRIGGER tracking_domains_changed_delete AFTER DELETE ON tracking_domains BEGIN
    UPDATE change_counters SET value = value + 1 WHERE name = 'tracking_domains';
END;

CREATE INDEX events_account_ts ON events (account_id, ts_ms);
