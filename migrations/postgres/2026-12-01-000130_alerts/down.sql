DROP TABLE alert_watch;
DROP INDEX alerts_by_account;
DROP INDEX alerts_queue;
DROP INDEX alerts_in_force;
DROP TABLE alerts;
