-- Events: webhooks that accounts register for kinds of events, and the
-- deliveries of each event to each of them. The events themselves are the
-- audit log's entries (written in the transaction of their change), so the
-- outbox needs no table of its own: only how far the dispatcher has read
-- the log.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    url TEXT NOT NULL,
    -- The event types it asked for, as a JSON array.
    event_types TEXT NOT NULL,
    -- The signing secret, `whsec_` and base64 (Standard Webhooks).
    secret TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'removed')),
    created_at TIMESTAMP NOT NULL,
    removed_at TIMESTAMP,
    CHECK ((state = 'removed') = (removed_at IS NOT NULL))
);
CREATE INDEX webhook_subscriptions_by_account ON webhook_subscriptions (account_id, id);
CREATE INDEX webhook_subscriptions_active ON webhook_subscriptions (state);

-- One row per event and subscription: made when the dispatcher reads the
-- event, sent until it is accepted or its attempts run out.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    event_index BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    -- Whether the account hears of it only as catalog news (not as a party
    -- or as oversight): then it is sent without the entry's actor and
    -- detail, which the audit trail shows to parties and oversight only.
    as_news BOOLEAN NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    -- While a sender holds it: no other sender takes it before this time.
    lease_until TIMESTAMP,
    last_status INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (subscription_id, event_index)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);

-- The delivery log: every attempt and what the receiver answered.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- The log entries before this position have been fanned out to the
-- subscriptions. A market with a log before events existed starts at its
-- end: a subscription hears of what happens after it.
CREATE TABLE event_dispatch (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO event_dispatch (id, position)
    SELECT 1, COALESCE((SELECT size FROM audit_log_head WHERE id = 1), 0);

-- The dispatcher asks which accounts each new entry concerns.
CREATE INDEX audit_entry_parties_by_idx ON audit_entry_parties (idx);

-- A grant's coming expiry is told once, as its own audited change.
ALTER TABLE grants ADD COLUMN expiry_noticed_at TIMESTAMP;
