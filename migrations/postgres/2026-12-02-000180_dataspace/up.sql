-- The Dataspace Protocol: contract negotiations (each carrying the market's
-- own access request, and the grant its approval made as the agreement),
-- transfer processes under those grants, and the messages the provider owes
-- consumers' callback addresses, claimed and retried by each instance.
CREATE TABLE dsp_negotiations (
    -- The providerPid, as urn:uuid:<id>.
    id TEXT PRIMARY KEY NOT NULL,
    consumer_pid TEXT NOT NULL,
    consumer_id TEXT NOT NULL REFERENCES accounts (id),
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    offer_id TEXT NOT NULL,
    callback_address TEXT NOT NULL,
    request_id TEXT NOT NULL REFERENCES access_requests (id),
    -- The grant, once the request is approved.
    agreement_id TEXT REFERENCES grants (id),
    state TEXT NOT NULL CHECK (state IN ('REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED',
        'VERIFIED', 'FINALIZED', 'TERMINATED')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (consumer_id, consumer_pid)
);
CREATE INDEX dsp_negotiations_open ON dsp_negotiations (state, id);

CREATE TABLE dsp_transfers (
    id TEXT PRIMARY KEY NOT NULL,
    consumer_pid TEXT NOT NULL,
    consumer_id TEXT NOT NULL REFERENCES accounts (id),
    agreement_id TEXT NOT NULL REFERENCES grants (id),
    dataset_id TEXT NOT NULL REFERENCES datasets (id),
    version INTEGER NOT NULL,
    format TEXT NOT NULL,
    callback_address TEXT NOT NULL,
    -- The content URL the data address names.
    endpoint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('REQUESTED', 'STARTED', 'SUSPENDED', 'COMPLETED',
        'TERMINATED')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (consumer_id, consumer_pid)
);

-- Messages to consumers, written in the transaction of the change they
-- announce (so none is sent for a change that did not commit).
CREATE TABLE dsp_callbacks (
    id TEXT PRIMARY KEY NOT NULL,
    -- The negotiation or transfer it belongs to; sent in order per process.
    process_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('agreement', 'finalized', 'negotiation_terminated',
        'transfer_start', 'transfer_terminated')),
    url TEXT NOT NULL,
    -- The message as sent (a transfer start gets its data token when sent).
    body TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX dsp_callbacks_due ON dsp_callbacks (state, next_attempt_at);
