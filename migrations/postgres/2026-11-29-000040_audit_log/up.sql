-- The audit log as an RFC 6962 Merkle tree. Every complete, aligned subtree
-- is stored once, when the append that completes it commits (level 0 holds
-- the leaf hashes), so that an append writes O(log n) rows and a root or a
-- proof reads O(log n) rows. Rows are never updated.
CREATE TABLE audit_tree_nodes (
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
    node_index BIGINT NOT NULL CHECK (node_index >= 0),
    hash BYTEA NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);

-- Signed tree heads, one per committing transaction that grew the log; all
-- are kept. `checkpoint` is the C2SP signed note, `signature` the Ed25519
-- signature it carries, `kid` the JWKS key that made it.
CREATE TABLE audit_tree_heads (
    tree_size BIGINT PRIMARY KEY CHECK (tree_size >= 0),
    root_hash BYTEA NOT NULL CHECK (length(root_hash) = 32),
    signed_at TIMESTAMP NOT NULL,
    kid TEXT NOT NULL,
    signature BYTEA NOT NULL,
    checkpoint TEXT NOT NULL
);
