-- Gives up leadership $1 held by worker $2 (at shutdown), so that another
-- worker takes over at once rather than after the expiry.
DELETE FROM orgjobs.leaders WHERE name = $1 AND leader_id = $2
