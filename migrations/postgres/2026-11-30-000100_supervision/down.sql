DROP INDEX orders_by_time;
DROP INDEX grants_by_time;
DROP INDEX access_requests_by_time;
DROP INDEX audit_entries_by_action_time;
DROP TABLE inbox_messages;
DROP TABLE complaints;
DROP TABLE incidents;
DROP TABLE freezes;
