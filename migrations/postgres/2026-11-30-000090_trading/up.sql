-- Trading: offers (versioned price plans on a listing), orders, and the
-- double-entry ledger that moves money between wallets, escrow, the
-- platform's fees and royalties; payments from a payment provider, payouts,
-- and the idempotency keys that make a retried request move money once.

CREATE TABLE offers (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'withdrawn')),
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX offers_by_dataset ON offers (dataset_id, id);

-- An offer's terms at one version; never changed once written, so an order
-- always reads what it bought.
CREATE TABLE offer_versions (
    offer_id TEXT NOT NULL REFERENCES offers (id),
    version INTEGER NOT NULL,
    plan TEXT NOT NULL CHECK (plan IN ('one_off', 'subscription', 'metered')),
    covers TEXT NOT NULL CHECK (covers IN ('all_versions', 'latest_version')),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    period_days INTEGER,
    term_days INTEGER NOT NULL CHECK (term_days >= 1),
    max_downloads INTEGER NOT NULL CHECK (max_downloads >= 1),
    purposes TEXT NOT NULL,
    processing BOOLEAN NOT NULL,
    territory TEXT NOT NULL,
    royalty_bps INTEGER NOT NULL CHECK (royalty_bps BETWEEN 0 AND 9000),
    instant BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (offer_id, version)
);

CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    offer_id TEXT NOT NULL,
    offer_version INTEGER NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    buyer_id TEXT NOT NULL REFERENCES accounts (id),
    seller_id TEXT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL CHECK (amount >= 0),
    currency TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('placed', 'paid', 'fulfilled', 'settled', 'cancelled', 'declined', 'expired', 'refunded')),
    request_id TEXT,
    grant_id TEXT,
    renewal_of TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    FOREIGN KEY (offer_id, offer_version) REFERENCES offer_versions (offer_id, version)
);
CREATE INDEX orders_by_buyer ON orders (buyer_id, id);
CREATE INDEX orders_by_seller ON orders (seller_id, id);
CREATE INDEX orders_by_state ON orders (state, id);

-- Balances of the ledger's accounts, kept with every posting. A wallet's
-- balance is decreased only by a conditional update that requires enough.
CREATE TABLE ledger_balances (
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    PRIMARY KEY (account, currency)
);

-- A journal entry: postings that sum to zero per currency, never changed;
-- the audit log entry that records it is named by its index.
CREATE TABLE journal_entries (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT,
    reference TEXT,
    created_at TIMESTAMP NOT NULL,
    audit_index BIGINT NOT NULL
);
CREATE INDEX journal_entries_by_order ON journal_entries (order_id);

CREATE TABLE postings (
    journal_id TEXT NOT NULL REFERENCES journal_entries (id),
    line INTEGER NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    -- For a royalty: the sale it comes from.
    memo TEXT,
    PRIMARY KEY (journal_id, line)
);
CREATE INDEX postings_by_account ON postings (account, journal_id);

CREATE TABLE payments (
    payment_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    journal_id TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

CREATE TABLE payouts (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'paid', 'rejected')),
    created_at TIMESTAMP NOT NULL,
    decided_by TEXT,
    decided_at TIMESTAMP,
    reason TEXT
);
CREATE INDEX payouts_by_account ON payouts (account_id, id);

-- A request made with an Idempotency-Key: the first answer, given again to
-- a retry with the same key and the same request.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- An access request or a grant made for an order.
ALTER TABLE access_requests ADD COLUMN order_id TEXT;
ALTER TABLE grants ADD COLUMN order_id TEXT;
-- One open request per consumer and dataset, and besides it one open
-- order: an order's request need not wait for an unrelated request.
DROP INDEX access_requests_one_open;
CREATE UNIQUE INDEX access_requests_one_open ON access_requests (dataset_id, consumer_id)
    WHERE state IN ('pending', 'under_review') AND order_id IS NULL;
CREATE UNIQUE INDEX access_requests_one_open_order ON access_requests (dataset_id, consumer_id)
    WHERE state IN ('pending', 'under_review') AND order_id IS NOT NULL;
-- What a derived dataset owes a source on each sale, as its processing
-- licence set it (0: the processing right was the provider's own).
ALTER TABLE licences ADD COLUMN royalty_bps INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dataset_sources ADD COLUMN royalty_bps INTEGER NOT NULL DEFAULT 0;
