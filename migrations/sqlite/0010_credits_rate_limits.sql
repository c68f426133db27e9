-- Credits per tenant (issue 4). A tenant without a row here is not metered
-- (unlimited); its first top-up creates the row and metering starts.
-- available: free to spend; reserved: held for sends in flight; charged:
-- spent since metering began. Integers only.
CREATE TABLE tenant_credits (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    charged BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- Every movement of a tenant's credits, for operators: top-ups and
-- adjustments one row each, charges one row per campaign per written batch
-- of outcomes (messages says how many sends it covers).
CREATE TABLE credit_ledger (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    campaign_id BIGINT,
    messages BIGINT,
    note TEXT,
    balance_after BIGINT NOT NULL
);
CREATE INDEX credit_ledger_by_tenant ON credit_ledger (tenant_id, id);

-- Messages per second a channel's sender may send (NULL: the default of the
-- channel's kind).
ALTER TABLE channels ADD COLUMN rate_per_second BIGINT;
