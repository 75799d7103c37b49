-- Schema version 14 on PostgreSQL: the operator's block is on the name (issue 13, item 7).
-- It was kept on the rows of the name alone: deleting the blocked row (or renaming it away)
-- and claiming the name again unblocked it. The names blocked now come over.
CREATE TABLE blocked_names (
    domain      text PRIMARY KEY,
    blocked_at  bigint NOT NULL
);
INSERT INTO blocked_names (domain, blocked_at)
SELECT domain, max(updated_at) FROM tracking_domains WHERE compliance_status = 'blocked'
GROUP BY domain
ON CONFLICT DO NOTHING;
