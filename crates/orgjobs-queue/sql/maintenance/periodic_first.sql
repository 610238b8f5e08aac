-- First sight of schedule $1: its latest past occurrence $2 is taken as
-- already enqueued (missed occurrences are not backfilled).
INSERT INTO orgjobs.periodic (name, last_occurrence) VALUES ($1, $2)
ON CONFLICT (name) DO NOTHING
