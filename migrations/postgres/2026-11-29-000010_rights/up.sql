-- The three separated data property rights, their registration
-- certificates, and the provenance of derived datasets.

-- One row per registration of a right. A holder's base right (origin
-- original or transfer) lasts until a transfer ends it; a delegation lasts
-- until `until`. The current holder of a kind is the base row that has not
-- ended, or an unexpired delegation on top of it.
CREATE TABLE rights (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    kind TEXT NOT NULL CHECK (kind IN ('holding', 'processing', 'operation')),
    holder_id TEXT NOT NULL REFERENCES accounts (id),
    origin TEXT NOT NULL CHECK (origin IN ('original', 'transfer', 'delegation', 'licence')),
    granted_by TEXT REFERENCES accounts (id),
    note TEXT,
    since TIMESTAMP NOT NULL,
    until TIMESTAMP,
    ended_at TIMESTAMP,
    ended_by TEXT REFERENCES rights (id)
);
CREATE INDEX rights_by_dataset ON rights (dataset_id, kind, since);
CREATE INDEX rights_by_holder ON rights (holder_id, kind);

CREATE TABLE rights_certificates (
    id TEXT PRIMARY KEY,
    right_id TEXT NOT NULL REFERENCES rights (id),
    jws TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    superseded_at TIMESTAMP,
    superseded_by TEXT REFERENCES rights_certificates (id)
);
CREATE INDEX rights_certificates_by_right ON rights_certificates (right_id, issued_at);

-- A derivation is a PROV activity: an agent used source versions and
-- generated a dataset.
CREATE TABLE derivations (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX derivations_by_dataset ON derivations (dataset_id);

-- Lineage edges: `dataset_id` was derived from version `source_version`
-- of `source_id`. Indexed both ways for upstream and downstream walks.
CREATE TABLE dataset_sources (
    derivation_id TEXT NOT NULL REFERENCES derivations (id),
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    source_id TEXT NOT NULL REFERENCES datasets (id),
    source_version INTEGER NOT NULL,
    PRIMARY KEY (derivation_id, source_id)
);
CREATE INDEX dataset_sources_upstream ON dataset_sources (dataset_id, source_id);
CREATE INDEX dataset_sources_downstream ON dataset_sources (source_id, dataset_id);
