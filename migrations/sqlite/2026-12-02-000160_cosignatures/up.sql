-- Witnessed checkpoints: the cosignatures witnesses returned for the log's
-- signed tree heads (C2SP tlog-cosignature). Not market state, and not
-- audited: a cosignature is a witness's statement about a head the log
-- already signed. One row per witness and head; instances that collect the
-- same cosignature insert it once (ON CONFLICT DO NOTHING).
CREATE TABLE audit_cosignatures (
    -- The witness as `<key name>+<hex key ID>` (its vkey without the key).
    witness TEXT NOT NULL,
    tree_size BIGINT NOT NULL,
    -- The cosignature's own timestamp (POSIX seconds).
    cosigned_at BIGINT NOT NULL,
    -- The signature line, without its newline.
    line TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (witness, tree_size)
);
CREATE INDEX audit_cosignatures_by_size ON audit_cosignatures (tree_size);
