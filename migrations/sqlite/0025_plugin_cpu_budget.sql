-- Issue 18: an admin may give a plugin its own CPU budget per call (NULL:
-- the server's --plugin-cpu-ms).
ALTER TABLE plugins ADD COLUMN cpu_budget_ms BIGINT;
