-- Licensed access: consumers' requests, and the grants their approval
-- creates, with the policy enforced at every delivery.

CREATE TABLE access_requests (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    consumer_id TEXT NOT NULL REFERENCES accounts (id),
    purpose TEXT NOT NULL,
    duration_days INTEGER NOT NULL CHECK (duration_days >= 1),
    max_downloads INTEGER NOT NULL CHECK (max_downloads >= 1),
    processing BOOLEAN NOT NULL,
    cross_border BOOLEAN NOT NULL,
    destination_country TEXT,
    message TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'under_review', 'approved', 'rejected', 'withdrawn', 'expired')),
    requires_review BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES accounts (id),
    decided_at TIMESTAMP,
    decision_reason TEXT,
    policy TEXT,
    reviewed_by TEXT REFERENCES accounts (id),
    reviewed_at TIMESTAMP,
    review_reason TEXT,
    grant_id TEXT
);
-- One open request per consumer and dataset.
CREATE UNIQUE INDEX access_requests_one_open ON access_requests (dataset_id, consumer_id)
    WHERE state IN ('pending', 'under_review');
CREATE INDEX access_requests_by_consumer ON access_requests (consumer_id, id);
CREATE INDEX access_requests_by_dataset ON access_requests (dataset_id, id);
CREATE INDEX access_requests_by_expiry ON access_requests (state, expires_at);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE REFERENCES access_requests (id),
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    version INTEGER,
    licensor_id TEXT NOT NULL REFERENCES accounts (id),
    licensee_id TEXT NOT NULL REFERENCES accounts (id),
    purposes TEXT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    not_after TIMESTAMP NOT NULL,
    max_downloads INTEGER NOT NULL CHECK (max_downloads >= 1),
    downloads_used INTEGER NOT NULL DEFAULT 0 CHECK (downloads_used >= 0),
    territory TEXT NOT NULL,
    processing BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'expired', 'exhausted')),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT REFERENCES accounts (id),
    revoke_reason TEXT,
    -- The count can never pass the limit, whatever the interleaving.
    CHECK (downloads_used <= max_downloads)
);
CREATE INDEX grants_by_licensee ON grants (licensee_id, id);
CREATE INDEX grants_by_licensor ON grants (licensor_id, id);
CREATE INDEX grants_by_dataset ON grants (dataset_id, licensee_id, status);
CREATE INDEX grants_by_status ON grants (status, not_after);
