-- Enqueues global kind $1 with payload $2 for one occurrence; $3, the
-- occurrence as the job's unique key, keeps a second job for it out.
SELECT orgjobs.add_job($1, NULL, $2, unique_key => $3)
