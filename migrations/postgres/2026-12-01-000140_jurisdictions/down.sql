DROP INDEX accounts_by_region;
ALTER TABLE datasets DROP COLUMN sector;
ALTER TABLE accounts DROP COLUMN jurisdiction;
ALTER TABLE accounts DROP COLUMN region;
