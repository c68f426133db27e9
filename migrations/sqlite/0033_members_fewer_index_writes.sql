-- Every member row is written several times by a send (enrolled, claimed,
-- sending, sent, delivered), and on PostgreSQL each of those writes adds an
-- entry to every index of `members` (status is indexed, so no update is
-- HOT). Receipts find their member by (tenant, provider message id), and
-- only members with a message id can match: the writes before the send's
-- outcome (enrolment, claim, start of the call) no longer add an entry
-- with a null id that no lookup can use. An equality on the id implies it
-- is not null, so both planners still choose this index (the plan guard,
-- `query_plans`, checks the receipts' lookup on both).
DROP INDEX members_provider_message;
CREATE INDEX members_provider_message ON members(tenant_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
