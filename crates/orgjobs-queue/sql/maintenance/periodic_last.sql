-- The last enqueued occurrence of schedule $1, locked for this transaction;
-- NOWAIT: another leader's enqueue of the same schedule is in progress.
SELECT last_occurrence FROM orgjobs.periodic WHERE name = $1 FOR UPDATE NOWAIT
