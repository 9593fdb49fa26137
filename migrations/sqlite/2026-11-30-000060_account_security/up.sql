-- Accounts: names compared without regard to letter case, a registered
-- territory, suspension; and login throttling every instance shares.

-- Lower-cased login name: `Acme` and `acme` are one account.
ALTER TABLE accounts ADD COLUMN name_key TEXT;
UPDATE accounts SET name_key = lower(name);
CREATE UNIQUE INDEX accounts_by_name_key ON accounts (name_key);

-- ISO 3166-1 alpha-2; NULL means the market's home territory.
ALTER TABLE accounts ADD COLUMN territory TEXT;

ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'suspended'));
ALTER TABLE accounts ADD COLUMN suspended_at TIMESTAMP;
ALTER TABLE accounts ADD COLUMN suspended_by TEXT;
ALTER TABLE accounts ADD COLUMN suspension_reason TEXT;

-- Failed logins per key: `pair:<name>|<address>`, `address:<address>`,
-- `name:<name>`. One row per key; the window restarts when it has passed.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    blocked_until TIMESTAMP
);

-- Addresses an account has logged in from: a lock on the account's name
-- (many failures from many addresses) does not shut them out.
CREATE TABLE login_known_clients (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    address TEXT NOT NULL,
    last_success TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, address)
);
