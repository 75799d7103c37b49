-- Schema version 11 on PostgreSQL: the unique keys indexed recipient first. A key is found
-- by every column (the roll-up pass, a relabel's hand-over), where the order only decides
-- how far each comparison goes: most keys of an account differ in their recipient, so it
-- now decides at the second column instead of the fourth (about a tenth off inserting a
-- key). An erasure finds a recipient's keys by account and recipient alone: a range of the
-- index now, where it read every key of the account.
ALTER TABLE engagement_keys DROP CONSTRAINT engagement_keys_pkey;
ALTER TABLE engagement_keys ADD PRIMARY KEY (account_id, recipient, message, kind, link);
