-- Participants: what kind of entity an account is, an organisation's
-- unified social credit code (GB 32100-2015), and a regulator's
-- verification of it.
ALTER TABLE accounts ADD COLUMN entity_type TEXT NOT NULL DEFAULT 'individual'
    CHECK (entity_type IN ('enterprise', 'government', 'research', 'social_organisation', 'individual'));
ALTER TABLE accounts ADD COLUMN credit_code TEXT;
ALTER TABLE accounts ADD COLUMN verified_at TIMESTAMP;
ALTER TABLE accounts ADD COLUMN verified_by TEXT REFERENCES accounts (id);
ALTER TABLE accounts ADD COLUMN verification_reference TEXT;
-- One organisation, one account.
CREATE UNIQUE INDEX accounts_by_credit_code ON accounts (credit_code) WHERE credit_code IS NOT NULL;
