-- Schema version 4 on PostgreSQL: verification proves which account may use a name (issue 13,
-- item 2), as SQLite's version 12 does.
--
-- Each account gets a CNAME target of its own, `<cname_label>.<EDGE_CNAME_TARGET>`: a name
-- verifies for the account whose target its CNAME names, so a CNAME left behind when an account
-- deletes its domain verifies for nobody else. The label is 80 random bits (from the server's
-- strong random source, through gen_random_uuid), unique: never handed out twice.
ALTER TABLE accounts ADD COLUMN cname_label text NOT NULL
    DEFAULT left(md5(gen_random_uuid()::text), 20);
CREATE UNIQUE INDEX accounts_cname_label ON accounts (cname_label);

-- Several accounts may claim one name; only the one that proves control verifies it, so a
-- claim can no longer squat a name: a name is unique per account, and among verified rows.
ALTER TABLE tracking_domains DROP CONSTRAINT tracking_domains_domain_key;
ALTER TABLE tracking_domains ADD CONSTRAINT tracking_domains_account_domain_key
    UNIQUE (account_id, domain);
CREATE INDEX tracking_domains_name ON tracking_domains (domain);
-- At most one verified row per name: the account that proved control last.
CREATE UNIQUE INDEX tracking_domains_one_verified ON tracking_domains (domain)
    WHERE cname_status = 'valid';

-- A certificate is its name's verified owner's: it goes when a row that leaves the name (by
-- rename or delete) leaves no verified row behind. Another account's unverified claim going
-- away does not take the owner's certificate with it.
CREATE OR REPLACE FUNCTION drop_certificate_of_old_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR OLD.domain <> NEW.domain) AND NOT EXISTS (
        SELECT 1 FROM tracking_domains WHERE domain = OLD.domain AND cname_status = 'valid'
    ) THEN
        DELETE FROM certificates WHERE domain = OLD.domain;
        DELETE FROM certificate_jobs WHERE domain = OLD.domain;
        DELETE FROM acme_challenges WHERE domain = OLD.domain;
    END IF;
    RETURN NULL;
END $$;
