-- Takes or keeps the leadership $1 for worker $2 for $3 seconds, at time $4
-- (NULL: the server's now()). Returns a
-- row when this worker is the leader: it held it already, or the previous
-- leader let it expire.
INSERT INTO orgjobs.leaders AS l (name, leader_id, expires_at)
VALUES ($1::text, $2::text, coalesce($4::timestamptz, now()) + make_interval(secs => $3::float8))
ON CONFLICT (name) DO UPDATE
    SET leader_id = EXCLUDED.leader_id, expires_at = EXCLUDED.expires_at
    WHERE l.leader_id = EXCLUDED.leader_id OR l.expires_at < coalesce($4::timestamptz, now())
RETURNING leader_id
