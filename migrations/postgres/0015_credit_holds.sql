-- Issue 4: each credit reservation is recorded until its send's outcome
-- settles it, so one held by a process killed mid-send is settled when the
-- member's lease expires (its outcome unknown) instead of staying reserved.
CREATE TABLE credit_holds (
    member_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    tenant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    held_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, attempt)
);
