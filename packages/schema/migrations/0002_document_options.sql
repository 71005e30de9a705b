-- Per-document processing options set when an operator retries or releases a document from
-- quarantine (e.g. a longer stage time budget). NULL: the deployment's defaults.
ALTER TABLE document ADD COLUMN options jsonb;
