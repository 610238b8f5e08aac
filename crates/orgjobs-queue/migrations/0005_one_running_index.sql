-- orgjobs queue, version 5: one index on running jobs instead of two.
--
-- jobs_running_idx (locked_until) served only the rescuer, which runs on
-- one worker every few seconds and can as well read the running jobs
-- through jobs_org_running_idx (there are at most as many as handler slots
-- in all workers). Every claim paid for an entry in both; with one fewer,
-- a claim writes one index entry less per job, and a lease renewal, which
-- changes only locked_until, can be a heap-only (HOT) update.
DROP INDEX orgjobs.jobs_running_idx;
