-- Schema version 8: the "served" rule as a view, for the queries that need it in SQL.
--
-- A tracking domain is served (tracking paths answered, certificates issued and presented)
-- when it is verified and not blocked: edge.model.domains.is_served states the same rule in
-- Python, and tests/edge/db/test_repositories.py holds the two equal over every state.
CREATE VIEW served_tracking_domains AS
    SELECT * FROM tracking_domains
    WHERE cname_status = 'valid' AND compliance_status <> 'blocked';
