-- Accounts, the catalog (datasets, tags, versions, full-text search) and the
-- audit trail. Timestamps are UTC without a zone, as on SQLite.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    display_name TEXT,
    organization TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES accounts (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    classification TEXT NOT NULL CHECK (classification IN ('general', 'important', 'core')),
    personal_data BOOLEAN NOT NULL,
    license TEXT NOT NULL,
    price_amount BIGINT NOT NULL CHECK (price_amount >= 0),
    price_currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'pending_review', 'listed', 'delisted', 'rejected')),
    review_reason TEXT,
    reviewed_by TEXT REFERENCES accounts (id),
    reviewed_at TIMESTAMP,
    latest_version INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    listed_at TIMESTAMP
);
CREATE INDEX datasets_by_status ON datasets (status, id);
CREATE INDEX datasets_by_provider ON datasets (provider_id, id);
-- Trigram index: ILIKE '%term%' substring search for Chinese and English.
CREATE INDEX datasets_search ON datasets USING gin (search_text public.gin_trgm_ops);

CREATE TABLE dataset_tags (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (dataset_id, tag)
);
CREATE INDEX dataset_tags_by_tag ON dataset_tags (tag, dataset_id);

CREATE TABLE dataset_versions (
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    number INTEGER NOT NULL CHECK (number >= 1),
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    object_key TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset_id, number)
);

-- The audit trail: one row per state change, appended in the change's own
-- transaction. `canonical` is the entry's canonical JSON, `leaf_hash` its
-- RFC 6962 leaf hash; the other columns are copies for filtering.
CREATE TABLE audit_entries (
    idx BIGINT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    dataset_id TEXT,
    subject TEXT NOT NULL,
    canonical TEXT NOT NULL,
    leaf_hash BYTEA NOT NULL
);
CREATE INDEX audit_entries_by_actor ON audit_entries (actor_id, idx);
CREATE INDEX audit_entries_by_action ON audit_entries (action, idx);
CREATE INDEX audit_entries_by_subject ON audit_entries (subject, idx);
CREATE INDEX audit_entries_by_dataset ON audit_entries (dataset_id, idx);
CREATE INDEX audit_entries_by_time ON audit_entries (created_at, idx);

-- Who an entry concerns: its actor and the parties it names, so that an
-- account can find (and prove) the entries about it.
CREATE TABLE audit_entry_parties (
    account_id TEXT NOT NULL,
    idx BIGINT NOT NULL REFERENCES audit_entries (idx),
    PRIMARY KEY (account_id, idx)
);

-- The log's single head row: appends update it first, which takes its row
-- lock and so serialises appends across every gateway instance.
CREATE TABLE audit_log_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO audit_log_head (id, size) VALUES (1, 0);
