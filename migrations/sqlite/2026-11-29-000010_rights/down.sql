DROP TABLE dataset_sources;
DROP TABLE derivations;
DROP TABLE rights_certificates;
DROP TABLE rights;
