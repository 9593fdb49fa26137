ALTER TABLE access_requests DROP COLUMN assessment_expires_at;
ALTER TABLE access_requests DROP COLUMN assessment_reference;
ALTER TABLE access_requests DROP COLUMN personal_information_subjects;
ALTER TABLE access_requests DROP COLUMN legal_basis;
