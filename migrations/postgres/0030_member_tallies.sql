-- Each campaign's member counts by channel and status, kept by triggers on
-- every write to members, so progress is read from a few rows instead of
-- counted over the campaign's members (which grew with the campaign).
-- channel_key is the member's own channel (a fallback step's), 0 while it
-- is the campaign's. Statement triggers with transition tables: one
-- grouped upsert per statement, whatever its number of rows, in key order
-- (concurrent writers lock the same rows in the same order).
CREATE TABLE member_tallies (
    campaign_id BIGINT NOT NULL,
    channel_key BIGINT NOT NULL,
    status TEXT NOT NULL,
    members BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    replied BIGINT NOT NULL DEFAULT 0,
    opted_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, channel_key, status)
);

INSERT INTO member_tallies (campaign_id, channel_key, status, members, sent, replied, opted_out)
SELECT campaign_id, COALESCE(channel_id, 0), status, COUNT(*), COUNT(sent_at),
       COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), COUNT(opted_out_at)
FROM members GROUP BY campaign_id, COALESCE(channel_id, 0), status;

CREATE FUNCTION member_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO member_tallies AS t (campaign_id, channel_key, status, members, sent, replied, opted_out)
        SELECT campaign_id, COALESCE(channel_id, 0), status, COUNT(*), COUNT(sent_at),
               COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), COUNT(opted_out_at)
        FROM added GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, channel_key, status) DO UPDATE SET
            members = t.members + excluded.members, sent = t.sent + excluded.sent,
            replied = t.replied + excluded.replied, opted_out = t.opted_out + excluded.opted_out;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO member_tallies AS t (campaign_id, channel_key, status, members, sent, replied, opted_out)
        SELECT campaign_id, channel_key, status, SUM(m), SUM(s), SUM(r), SUM(o) FROM (
            SELECT campaign_id, COALESCE(channel_id, 0) AS channel_key, status, -1 AS m,
                   -(sent_at IS NOT NULL)::int AS s,
                   -(opted_out_at IS NULL AND replied_at IS NOT NULL)::int AS r,
                   -(opted_out_at IS NOT NULL)::int AS o
            FROM gone
            UNION ALL
            SELECT campaign_id, COALESCE(channel_id, 0), status, 1,
                   (sent_at IS NOT NULL)::int,
                   (opted_out_at IS NULL AND replied_at IS NOT NULL)::int,
                   (opted_out_at IS NOT NULL)::int
            FROM added
        ) d
        GROUP BY 1, 2, 3
        HAVING SUM(m) <> 0 OR SUM(s) <> 0 OR SUM(r) <> 0 OR SUM(o) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (campaign_id, channel_key, status) DO UPDATE SET
            members = t.members + excluded.members, sent = t.sent + excluded.sent,
            replied = t.replied + excluded.replied, opted_out = t.opted_out + excluded.opted_out;
    ELSE
        UPDATE member_tallies t SET members = t.members - d.m, sent = t.sent - d.s,
            replied = t.replied - d.r, opted_out = t.opted_out - d.o
        FROM (
            SELECT campaign_id, COALESCE(channel_id, 0) AS channel_key, status, COUNT(*) AS m,
                   COUNT(sent_at) AS s,
                   COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END) AS r,
                   COUNT(opted_out_at) AS o
            FROM gone GROUP BY 1, 2, 3
        ) d
        WHERE t.campaign_id = d.campaign_id AND t.channel_key = d.channel_key AND t.status = d.status;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER member_tallies_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();
CREATE TRIGGER member_tallies_update AFTER UPDATE ON members
    REFERENCING OLD TABLE AS gone NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();
CREATE TRIGGER member_tallies_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();

CREATE FUNCTION member_tallies_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_tallies WHERE campaign_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER member_tallies_campaign_delete AFTER DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION member_tallies_forget();
