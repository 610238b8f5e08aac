-- orgjobs queue, version 2: indexes for the fair claim.
--
-- The fair claim walks organizations with runnable jobs in key order from a
-- cursor (a loose index scan: one probe per organization) and takes the head
-- jobs of each, so its cost depends on the batch, not on the backlog. Global
-- jobs (no organization) form one more "organization" with the largest key.
CREATE INDEX jobs_org_fetch_idx ON orgjobs.jobs
    ((coalesce(organization_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)), priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');

-- Counting an organization's running jobs, for the optional per-organization
-- concurrency limit.
CREATE INDEX jobs_org_running_idx ON orgjobs.jobs (organization_id) WHERE state = 'running';
