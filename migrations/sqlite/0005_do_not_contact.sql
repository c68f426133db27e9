-- Do-not-contact list per tenant: an address (E.164 phone or lowercased
-- email) here is never sent to, whatever the campaign. Checked when a send
-- is claimed, not only at enrolment, so an opt-out applies at once.
CREATE TABLE do_not_contact (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    address TEXT NOT NULL,
    -- `api`, `import`, or `reply:KEYWORD` for an opt-out by message.
    source TEXT NOT NULL,
    note TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, address)
);
