DROP INDEX accounts_by_credit_code;
ALTER TABLE accounts DROP COLUMN verification_reference;
ALTER TABLE accounts DROP COLUMN verified_by;
ALTER TABLE accounts DROP COLUMN verified_at;
ALTER TABLE accounts DROP COLUMN credit_code;
ALTER TABLE accounts DROP COLUMN entity_type;
