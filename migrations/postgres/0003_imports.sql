-- Audiences: CSV import jobs with their validation report, the contact's own
-- timezone, and how a campaign takes contacts that arrive after it started.

ALTER TABLE contacts ADD COLUMN timezone TEXT;

-- Country assumed for numbers written without a country code (imports).
ALTER TABLE tenants ADD COLUMN default_region TEXT;

-- 'manual': the audience is the list when the campaign starts.
-- 'automatic': a started campaign stays running and enrols contacts as they
-- are added (API, import, inbound), never completing on its own.
ALTER TABLE campaigns ADD COLUMN execution_mode TEXT NOT NULL DEFAULT 'manual';
-- A reply from an unknown number on the campaign's channel creates the
-- contact and enrols it (automatic campaigns only).
ALTER TABLE campaigns ADD COLUMN inbound_enrolment BIGINT NOT NULL DEFAULT 0;

-- One upload being imported. The file itself is spooled to the data dir;
-- the row holds the checkpoint (byte offset, line and record number of the
-- next unprocessed row) committed with each batch, so a restart resumes
-- exactly where the last committed batch ended.
CREATE TABLE import_jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    list_id BIGINT NOT NULL REFERENCES contact_lists(id),
    -- Enrol the imported contacts in this campaign too.
    campaign_id BIGINT REFERENCES campaigns(id),
    -- queued, running, completed, failed, cancelled
    status TEXT NOT NULL,
    dry_run BIGINT NOT NULL,
    -- 'update' an existing contact with the file's values, or 'skip' it.
    existing TEXT NOT NULL,
    default_region TEXT,
    mapping_json TEXT NOT NULL,
    filename TEXT,
    spool_path TEXT NOT NULL,
    bytes_total BIGINT NOT NULL,
    checkpoint_byte BIGINT NOT NULL DEFAULT 0,
    checkpoint_line BIGINT NOT NULL DEFAULT 0,
    checkpoint_record BIGINT NOT NULL DEFAULT 0,
    rows_total BIGINT NOT NULL DEFAULT 0,
    imported BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX import_jobs_tenant ON import_jobs(tenant_id);
CREATE INDEX import_jobs_status ON import_jobs(status);

-- The validation report: every row not imported, with its reason.
CREATE TABLE import_rejections (
    job_id BIGINT NOT NULL REFERENCES import_jobs(id),
    tenant_id BIGINT NOT NULL,
    row_number BIGINT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    PRIMARY KEY (job_id, row_number)
);
