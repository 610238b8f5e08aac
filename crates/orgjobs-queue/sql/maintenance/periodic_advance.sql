-- Schedule $1's occurrence $2 is being enqueued (in this transaction).
UPDATE orgjobs.periodic SET last_occurrence = $2 WHERE name = $1
