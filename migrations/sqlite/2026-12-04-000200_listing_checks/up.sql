-- The listing's CHECK constraints as comparisons joined by OR, in place of
-- `IN (…)` lists: SQLite builds a temporary table of each list every time an
-- UPDATE sets the column (three per edit of a listing, about a twelfth of
-- the writer's work on `PATCH`), where OR'd comparisons cost nothing to set
-- up. The constraints accept and refuse exactly the same values.
--
-- SQLite cannot alter a constraint, so the table is rebuilt as its manual
-- says (https://www.sqlite.org/lang_altertable.html#otheralter): foreign
-- keys off, so that dropping the old table neither cascades to the tags
-- nor trips the references to it; a new table; the rows copied with their
-- `seq`, the full-text index's rowid; the old one dropped, the new one
-- renamed; its indexes and triggers made again. Column constraints stay on
-- their columns, so the earlier migrations' DROP COLUMNs still revert.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE datasets_rebuilt (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    provider_id TEXT NOT NULL REFERENCES accounts (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    classification TEXT NOT NULL
        CHECK (classification = 'general' OR classification = 'important' OR classification = 'core'),
    personal_data BOOLEAN NOT NULL,
    license TEXT NOT NULL,
    price_amount BIGINT NOT NULL CHECK (price_amount >= 0),
    price_currency TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status = 'draft' OR status = 'pending_review' OR status = 'listed'
            OR status = 'delisted' OR status = 'rejected'),
    review_reason TEXT,
    reviewed_by TEXT REFERENCES accounts (id),
    reviewed_at TIMESTAMP,
    latest_version INTEGER NOT NULL DEFAULT 0,
    search_text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    listed_at TIMESTAMP,
    reviewed_classification TEXT
        CHECK (reviewed_classification = 'general' OR reviewed_classification = 'important'
            OR reviewed_classification = 'core'),
    inherited_classification TEXT
        CHECK (inherited_classification = 'general' OR inherited_classification = 'important'
            OR inherited_classification = 'core'),
    inherited_personal_data BOOLEAN NOT NULL DEFAULT FALSE,
    sector TEXT
        CHECK (sector = 'agriculture' OR sector = 'industry' OR sector = 'energy'
            OR sector = 'transport' OR sector = 'finance' OR sector = 'health'
            OR sector = 'education' OR sector = 'science' OR sector = 'telecom'
            OR sector = 'commerce' OR sector = 'environment'
            OR sector = 'public_administration' OR sector = 'other')
);

INSERT INTO datasets_rebuilt (seq, id, provider_id, title, description, tags, classification,
    personal_data, license, price_amount, price_currency, status, review_reason, reviewed_by,
    reviewed_at, latest_version, search_text, created_at, updated_at, listed_at,
    reviewed_classification, inherited_classification, inherited_personal_data, sector)
SELECT seq, id, provider_id, title, description, tags, classification,
    personal_data, license, price_amount, price_currency, status, review_reason, reviewed_by,
    reviewed_at, latest_version, search_text, created_at, updated_at, listed_at,
    reviewed_classification, inherited_classification, inherited_personal_data, sector
FROM datasets;

DROP TABLE datasets;
ALTER TABLE datasets_rebuilt RENAME TO datasets;

CREATE INDEX datasets_by_status ON datasets (status, id);
CREATE INDEX datasets_by_provider ON datasets (provider_id, id);
-- The full-text index keeps its rows (same `seq`, same text); only the
-- triggers that keep it current went with the old table.
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

COMMIT;
PRAGMA foreign_keys = ON;
