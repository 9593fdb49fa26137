-- The licences grants confer, as the rule book (src/access) reads them:
-- who may see a dataset while a grant lasts, and who may process it. The
-- grant itself (policy, download count) stays in `grants`; this table is
-- the rule book's own, written in the grant's transaction. No foreign key to
-- `grants`: the rule book sits below the grants service.
CREATE TABLE licences (
    grant_id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    licensee_id TEXT NOT NULL REFERENCES accounts (id),
    processing BOOLEAN NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
CREATE INDEX licences_by_licensee ON licences (licensee_id, dataset_id);

-- Grants made before this table existed confer their licences too; a
-- revoked grant's licence ended when it was revoked.
INSERT INTO licences (grant_id, dataset_id, licensee_id, processing, not_before, not_after, ended_at)
SELECT id, dataset_id, licensee_id, processing, not_before, not_after, revoked_at FROM grants;
