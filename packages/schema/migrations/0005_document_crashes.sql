-- Workers that died holding a document's current stage (issue 22): counted when a claim finds the
-- document still PROCESSING at that stage, or when the lease reconciler finds its lease expired. Past
-- DOCFLEET_MAX_CRASHES the document fails with WORKER_CRASHED instead of taking down more workers.
-- Reset with `attempts` when the stage completes or an operator retries the document.
ALTER TABLE document ADD COLUMN crashes integer NOT NULL DEFAULT 0;
