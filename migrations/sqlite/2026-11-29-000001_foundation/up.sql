-- Accounts, the catalog (datasets, tags, versions, full-text search) and the
-- audit trail.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    display_name TEXT,
    organization TEXT,
    created_at TIMESTAMP NOT NULL
);

-- `seq` gives the full-text index a rowid that VACUUM cannot renumber.
CREATE TABLE datasets (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
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

-- Trigram full-text index over title, description and tags: substring
-- search that works for Chinese as well as English.
CREATE VIRTUAL TABLE datasets_search USING fts5 (
    search_text,
    content = 'datasets',
    content_rowid = 'seq',
    tokenize = 'trigram'
);
CREATE TRIGGER datasets_search_insert AFTER INSERT ON datasets BEGIN
    INSERT INTO datasets_search (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER datasets_search_delete AFTER DELETE ON datasets BEGIN
    INSERT INTO datasets_search (datasets_search, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER datasets_search_update AFTER UPDATE OF search_text ON datasets BEGIN
    INSERT INTO datasets_search (datasets_search, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO datasets_search (rowid, search_text) VALUES (new.seq, new.search_text);
END;

-- The audit trail: one row per state change, appended in the change's own
-- transaction. `canonical` is the entry's canonical JSON, `leaf_hash` its
-- RFC 6962 leaf hash; the other columns are copies for filtering.
CREATE TABLE audit_entries (
    idx INTEGER PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    dataset_id TEXT,
    subject TEXT NOT NULL,
    canonical TEXT NOT NULL,
    leaf_hash BLOB NOT NULL
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

-- The log's single head row: appends update it first, which serialises them.
CREATE TABLE audit_log_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO audit_log_head (id, size) VALUES (1, 0);
