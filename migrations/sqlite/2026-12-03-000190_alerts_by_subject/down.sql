DROP INDEX alerts_by_subject;
