-- Every status change of a member rewrites its row, and on PostgreSQL a
-- rewrite that changes an indexed column (status does) adds an entry to
-- every index of the table: four rewrites per message (claimed, sending,
-- sent, delivered) times twelve indexes were most of PostgreSQL's work in
-- the dispatch benchmark (pg_stat_statements: the four member updates,
-- 30 to 37 buffer hits per row). Fewer and narrower indexes, same lookups:

-- One index for a contact's members, with or without the tenant: the
-- contact first serves contact deletions (the foreign key's check) and
-- every tenant-and-contact lookup alike.
DROP INDEX members_contact;
DROP INDEX members_tenant_contact;
CREATE INDEX members_contact_tenant ON members (contact_id, tenant_id);

-- `members_due` (status, next_attempt_at) held every member at every
-- rewrite; its two readers need only the members in flight: the lease
-- sweeps (claimed or sending) and the overdue receipt checks (sent). The
-- sweeps repeat the predicate word for word (SQLite uses a partial index
-- only then), and the batch updates, which test status through an
-- expression, cannot take it for a scan.
DROP INDEX members_due;
CREATE INDEX members_leased ON members (status, lease_until) WHERE status IN ('claimed', 'sending');
CREATE INDEX members_sent_due ON members (next_attempt_at) WHERE status = 'sent';

-- The message-id index holds members from their send on (0033, applied
-- and then reverted in code once; kept so a database that ran it migrates
-- on). The receipts' lookup is written so that PostgreSQL looks each
-- message id up (see `receipt_batch`), whatever that index's statistics say.
