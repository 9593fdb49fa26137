ALTER TABLE dataset_sources DROP COLUMN royalty_bps;
ALTER TABLE licences DROP COLUMN royalty_bps;
ALTER TABLE grants DROP COLUMN order_id;
DROP INDEX access_requests_one_open_order;
DROP INDEX access_requests_one_open;
CREATE UNIQUE INDEX access_requests_one_open ON access_requests (dataset_id, consumer_id)
    WHERE state IN ('pending', 'under_review');
ALTER TABLE access_requests DROP COLUMN order_id;
DROP TABLE idempotency_keys;
DROP TABLE payouts;
DROP TABLE payments;
DROP TABLE postings;
DROP TABLE journal_entries;
DROP TABLE ledger_balances;
DROP TABLE orders;
DROP TABLE offer_versions;
DROP TABLE offers;
