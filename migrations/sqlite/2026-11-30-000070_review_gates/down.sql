ALTER TABLE dataset_versions DROP COLUMN review_reason;
ALTER TABLE dataset_versions DROP COLUMN reviewed_at;
ALTER TABLE dataset_versions DROP COLUMN reviewed_by;
ALTER TABLE dataset_versions DROP COLUMN status;
ALTER TABLE datasets DROP COLUMN inherited_personal_data;
ALTER TABLE datasets DROP COLUMN inherited_classification;
ALTER TABLE datasets DROP COLUMN reviewed_classification;
