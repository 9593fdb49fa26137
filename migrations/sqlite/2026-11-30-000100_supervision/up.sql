-- Supervision: freezes a regulator puts on a dataset, an account or a whole
-- class of data, incidents recorded against a dataset, complaints filed by
-- participants, and the inbox that tells every party downstream of an
-- incident and both sides of a decided complaint.

CREATE TABLE freezes (
    id TEXT PRIMARY KEY NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('dataset', 'account', 'classification', 'destination')),
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    frozen_by TEXT NOT NULL REFERENCES accounts (id),
    frozen_at TIMESTAMP NOT NULL,
    lifted_by TEXT REFERENCES accounts (id),
    lifted_at TIMESTAMP,
    lift_reason TEXT
);
-- At most one freeze in force per target; every delivery asks this index.
CREATE UNIQUE INDEX freezes_in_force ON freezes (target, scope) WHERE lifted_at IS NULL;

CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    kind TEXT NOT NULL CHECK (kind IN ('leak', 'poisoned', 'misuse', 'other')),
    description TEXT NOT NULL,
    reported_by TEXT NOT NULL REFERENCES accounts (id),
    reported_at TIMESTAMP NOT NULL,
    -- How many datasets downstream and accounts it reached.
    datasets_reached INTEGER NOT NULL,
    accounts_notified INTEGER NOT NULL
);
CREATE INDEX incidents_by_dataset ON incidents (dataset_id, id);

-- A message to one account: what happened, about which dataset, and why it
-- concerns the account.
-- A participant's complaint about a listing, a grant or an account, in the
-- regulators' queue until one of them decides it.
CREATE TABLE complaints (
    id TEXT PRIMARY KEY NOT NULL,
    complainant_id TEXT NOT NULL REFERENCES accounts (id),
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('listing', 'grant', 'account')),
    subject_id TEXT NOT NULL,
    -- Whom it is about: the listing's provider, the grant's other party, or
    -- the account itself.
    respondent_id TEXT NOT NULL REFERENCES accounts (id),
    dataset_id TEXT REFERENCES datasets (id),
    description TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'upheld', 'dismissed')),
    filed_at TIMESTAMP NOT NULL,
    decided_by TEXT REFERENCES accounts (id),
    decided_at TIMESTAMP,
    outcome TEXT,
    CHECK ((state = 'open') = (decided_at IS NULL))
);
CREATE INDEX complaints_queue ON complaints (state, id);
CREATE INDEX complaints_by_complainant ON complaints (complainant_id, id);
CREATE INDEX complaints_by_respondent ON complaints (respondent_id, state);

CREATE TABLE inbox_messages (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    incident_id TEXT REFERENCES incidents (id),
    complaint_id TEXT REFERENCES complaints (id),
    dataset_id TEXT,
    concerns TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX inbox_by_account ON inbox_messages (account_id, id);

-- Market statistics count and group by time range.
CREATE INDEX audit_entries_by_action_time ON audit_entries (action, created_at);
CREATE INDEX access_requests_by_time ON access_requests (created_at);
CREATE INDEX grants_by_time ON grants (created_at);
CREATE INDEX orders_by_time ON orders (created_at);
