-- Make the send path's member rewrites HOT on PostgreSQL. A send rewrites
-- its member four times (claimed, sending, sent, delivered), and a rewrite
-- that changes a column any index of `members` names (in its key or its
-- predicate) adds an entry to every one of them. `status` was in three
-- (the claim index, the lease index's predicate, the overdue-receipt
-- index's predicate), so none of the four was HOT: they were most of
-- PostgreSQL's work per message in the dispatch benchmark (stop 45). Now
-- only the claim (which leaves the queue) and the outcome (which records
-- the provider's message id) change an indexed column; the start of the
-- call and the delivery receipt rewrite the row in place.

-- The claim's index holds queued members only, by a column the claim and a
-- return to the queue change and nothing else does: a member is claimable
-- from its due time while it is queued.
ALTER TABLE members ADD COLUMN claimable_at BIGINT
    GENERATED ALWAYS AS (CASE WHEN status = 'queued' THEN next_attempt_at END) STORED;
CREATE INDEX members_claimable ON members (campaign_id, claimable_at, id)
    WHERE claimable_at IS NOT NULL;
DROP INDEX members_campaign_due;

-- Claims and sends under way by their lease, which the claim sets and the
-- outcome clears: the start of the call leaves it as it is.
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

-- Receipts awaited, by when each is due (see `store::receipt_checks`): a
-- row from the send's outcome until its receipt, outside `members`.
DROP INDEX members_sent_due;
CREATE TABLE receipt_checks (
    member_id BIGINT PRIMARY KEY,
    due_at BIGINT NOT NULL
);
CREATE INDEX receipt_checks_due ON receipt_checks (due_at);
INSERT INTO receipt_checks (member_id, due_at)
SELECT id, next_attempt_at FROM members WHERE status = 'sent';

-- Room in each page for a row's next version: an in-place rewrite needs
-- free space on the row's own page.
ALTER TABLE members SET (fillfactor = 80);
