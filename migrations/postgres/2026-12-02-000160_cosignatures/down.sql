DROP INDEX audit_cosignatures_by_size;
DROP TABLE audit_cosignatures;
