-- A worker's report: renews its row, adds its tallies to the history, and
-- deletes history older than two hours and workers gone for a day.
-- $1 worker id, $2 host, $3 pid, $4 concurrency, $5 kinds, $6 started at,
-- $7..$14 the tallies, one array element per (minute, organization, kind),
-- $15 seconds after which a worker that has not reported is counted.
-- Returns one row: how many other workers, not stopped, last reported more
-- than $15 seconds ago (read from the statement's snapshot, which the
-- writes above do not change; this worker is left out, as it reports now).
WITH me AS (
    INSERT INTO orgjobs.workers AS w (id, host, pid, concurrency, kinds, started_at, heartbeat_at)
    VALUES ($1, $2, $3, $4, $5, $6, now())
    ON CONFLICT (id) DO UPDATE
    SET heartbeat_at = now(), stopped_at = NULL, concurrency = excluded.concurrency,
        kinds = excluded.kinds
),
tallies AS (
    INSERT INTO orgjobs.worker_minutes AS m
        (minute, worker_id, organization_id, kind, completed, failed, run_secs, wait_secs, wait_max_secs)
    SELECT t.minute, $1, t.org, t.kind, t.completed, t.failed, t.run_secs, t.wait_secs, t.wait_max_secs
    FROM unnest($7::timestamptz[], $8::uuid[], $9::text[], $10::int4[], $11::int4[],
                $12::float8[], $13::float8[], $14::float8[])
         AS t (minute, org, kind, completed, failed, run_secs, wait_secs, wait_max_secs)
    ON CONFLICT (minute, worker_id, organization_id, kind) DO UPDATE
    SET completed = m.completed + excluded.completed,
        failed = m.failed + excluded.failed,
        run_secs = m.run_secs + excluded.run_secs,
        wait_secs = m.wait_secs + excluded.wait_secs,
        wait_max_secs = greatest(m.wait_max_secs, excluded.wait_max_secs)
),
gone AS (
    DELETE FROM orgjobs.workers WHERE heartbeat_at < now() - interval '1 day' AND id <> $1
),
expired AS (
    DELETE FROM orgjobs.worker_minutes WHERE minute < now() - interval '2 hours'
)
SELECT count(*)::int8 FROM orgjobs.workers
WHERE id <> $1 AND stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $15)
