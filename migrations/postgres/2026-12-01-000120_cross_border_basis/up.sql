-- The cross-border pathway: what a transfer abroad rests on, how many
-- individuals' personal information it sends, and the regulator's
-- assessment (its reference, and when it lapses) that bounds the grant.
-- Requests made before this have none.
ALTER TABLE access_requests ADD COLUMN legal_basis TEXT
    CHECK (legal_basis IN ('security_assessment', 'standard_contract', 'certification', 'exemption'));
ALTER TABLE access_requests ADD COLUMN personal_information_subjects BIGINT
    CHECK (personal_information_subjects >= 0);
ALTER TABLE access_requests ADD COLUMN assessment_reference TEXT;
ALTER TABLE access_requests ADD COLUMN assessment_expires_at TIMESTAMP;
