DROP TABLE inbox_messages;
DROP TABLE complaints;
DROP TABLE incidents;
DROP TABLE freezes;
