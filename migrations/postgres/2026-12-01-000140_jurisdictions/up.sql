-- Jurisdictions: an account's region (an ISO 3166-2 subdivision of its
-- territory), a regulator's jurisdiction over regions and sectors (JSON:
-- {"regions": [...], "sectors": [...]}, none of either = the whole market),
-- and the sector a listing's data comes from.
ALTER TABLE accounts ADD COLUMN region TEXT;
ALTER TABLE accounts ADD COLUMN jurisdiction TEXT;
ALTER TABLE datasets ADD COLUMN sector TEXT
    CHECK (sector IN ('agriculture', 'industry', 'energy', 'transport', 'finance', 'health',
        'education', 'science', 'telecom', 'commerce', 'environment', 'public_administration', 'other'));
CREATE INDEX accounts_by_region ON accounts (region);
