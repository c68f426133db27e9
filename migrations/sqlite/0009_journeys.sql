-- Journeys (issue 4): a member moves through its campaign's steps (0 the
-- primary message, 1 the fallback, 2.. the follow-ups), one at a time.
-- `channel_id` is the current step's channel when it is not the campaign's;
-- the next follow-up is due work (`next_step` at `next_step_at`), cancelled
-- by any reply.
ALTER TABLE members ADD COLUMN step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN channel_id BIGINT;
ALTER TABLE members ADD COLUMN next_step BIGINT;
ALTER TABLE members ADD COLUMN next_step_at BIGINT;
-- The dispatcher looks for due follow-ups on every claim.
CREATE INDEX members_next_step ON members (next_step_at) WHERE next_step_at IS NOT NULL;
-- A reply cancels its contact's pending follow-ups.
CREATE INDEX members_contact ON members (contact_id);
