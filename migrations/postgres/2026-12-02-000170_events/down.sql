ALTER TABLE grants DROP COLUMN expiry_noticed_at;
DROP INDEX audit_entry_parties_by_idx;
DROP TABLE event_dispatch;
DROP TABLE webhook_attempts;
DROP INDEX webhook_deliveries_due;
DROP TABLE webhook_deliveries;
DROP INDEX webhook_subscriptions_active;
DROP INDEX webhook_subscriptions_by_account;
DROP TABLE webhook_subscriptions;
