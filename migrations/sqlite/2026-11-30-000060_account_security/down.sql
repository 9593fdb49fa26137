DROP TABLE login_known_clients;
DROP TABLE login_failures;
ALTER TABLE accounts DROP COLUMN suspension_reason;
ALTER TABLE accounts DROP COLUMN suspended_by;
ALTER TABLE accounts DROP COLUMN suspended_at;
ALTER TABLE accounts DROP COLUMN status;
ALTER TABLE accounts DROP COLUMN territory;
DROP INDEX accounts_by_name_key;
ALTER TABLE accounts DROP COLUMN name_key;
