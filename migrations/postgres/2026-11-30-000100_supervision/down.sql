DROP TABLE inbox_messages;
DROP TABLE incidents;
DROP TABLE freezes;
