-- The send path's member rewrites touch no index of `members` but where
-- they must (PostgreSQL's migration 0036 says why; SQLite rewrites an
-- index only when a column it names changes, so the start of a call and
-- the delivery receipt now write no index entry here either).

-- The claim's index holds queued members only (see PostgreSQL's 0036).
ALTER TABLE members ADD COLUMN claimable_at INTEGER
    GENERATED ALWAYS AS (CASE WHEN status = 'queued' THEN next_attempt_at END) VIRTUAL;
CREATE INDEX members_claimable ON members (campaign_id, claimable_at, id)
    WHERE claimable_at IS NOT NULL;
DROP INDEX members_campaign_due;

-- Claims and sends under way by their lease.
DROP INDEX members_leased;
CREATE INDEX members_lease ON members (lease_until) WHERE lease_until IS NOT NULL;

-- Two lookups the claim index's predecessor, (campaign_id, status, ...),
-- served: a campaign's uncertain sends still to be looked up (completion
-- waits for them), and a starting campaign's members not yet attempted
-- (the duplicate check at a start). A member enters either by a write
-- that adds index entries anyway (its enrolment, an uncertain outcome, a
-- claim handed back); the start of a call and the receipt leave both.
CREATE INDEX members_campaign_reconcile ON members (campaign_id, reconcile_at) WHERE reconcile_at IS NOT NULL;
CREATE INDEX members_campaign_unsent ON members (campaign_id) WHERE attempts = 0;

-- Receipts awaited, by when each is due (see `store::receipt_checks`).
DROP INDEX members_sent_due;
CREATE TABLE receipt_checks (
    member_id INTEGER PRIMARY KEY,
    due_at INTEGER NOT NULL
);
CREATE INDEX receipt_checks_due ON receipt_checks (due_at);
INSERT INTO receipt_checks (member_id, due_at)
SELECT id, next_attempt_at FROM members WHERE status = 'sent';
