-- Issue 4: each credit reservation is recorded until its send's outcome
-- settles it, so one held by a process killed mid-send is settled when the
-- member's lease expires (its outcome unknown) instead of staying reserved.
CREATE TABLE credit_holds (
    member_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    held_at INTEGER NOT NULL,
    PRIMARY KEY (member_id, attempt)
);
