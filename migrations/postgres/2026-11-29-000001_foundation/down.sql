DROP TABLE audit_log_head;
DROP TABLE audit_entry_parties;
DROP TABLE audit_entries;
DROP TABLE dataset_versions;
DROP TABLE dataset_tags;
DROP TABLE datasets;
DROP TABLE accounts;
