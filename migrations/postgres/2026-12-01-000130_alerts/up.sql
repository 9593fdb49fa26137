-- Early warning: alerts the market's watch raises from what the audit log
-- records, for the regulators whose jurisdiction covers them, and how far
-- the watch has read the log.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    rule TEXT NOT NULL CHECK (rule IN ('delivery_surge', 'personal_data_sweep',
        'refused_deliveries', 'cross_border_important', 'downgraded_after_review')),
    -- What it is about: a grant, an account, a dataset, or a destination.
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('grant', 'account', 'dataset', 'destination')),
    subject TEXT NOT NULL,
    -- The participant it concerns (for its compliance record), and the
    -- dataset, when there is one.
    account_id TEXT REFERENCES accounts (id),
    dataset_id TEXT REFERENCES datasets (id),
    -- Where it belongs, for jurisdictions: the concerned party's region and
    -- the dataset's sector.
    region TEXT,
    sector TEXT,
    summary TEXT NOT NULL,
    -- The audit indexes that triggered it, as a JSON array.
    evidence TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    raised_at TIMESTAMP NOT NULL,
    acknowledged_by TEXT REFERENCES accounts (id),
    acknowledged_at TIMESTAMP,
    resolved_by TEXT REFERENCES accounts (id),
    resolved_at TIMESTAMP,
    outcome TEXT CHECK (outcome IN ('confirmed', 'unfounded')),
    note TEXT,
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
-- One alert in force per rule and subject.
CREATE UNIQUE INDEX alerts_in_force ON alerts (rule, subject) WHERE state <> 'resolved';
CREATE INDEX alerts_queue ON alerts (state, id);
CREATE INDEX alerts_by_account ON alerts (account_id, outcome);

-- The log entries before this position have been read by the watch. A
-- market that had a log before the watch existed starts at its end.
CREATE TABLE alert_watch (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO alert_watch (id, position)
    SELECT 1, COALESCE((SELECT size FROM audit_log_head WHERE id = 1), 0);
