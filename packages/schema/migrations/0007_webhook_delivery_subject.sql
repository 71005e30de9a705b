-- Webhook deliveries name the batch and document their event is about (issue 20), so that deleting a
-- document or a batch deletes its deliveries too (nothing of it left, pending or logged). Filled from the
-- stored body for deliveries written before.
ALTER TABLE webhook_delivery ADD COLUMN batch_id uuid, ADD COLUMN document_id uuid;
UPDATE webhook_delivery SET batch_id = (body::jsonb ->> 'batchId')::uuid, document_id = (body::jsonb ->> 'documentId')::uuid;
CREATE INDEX webhook_delivery_batch_id_idx ON webhook_delivery(batch_id);
CREATE INDEX webhook_delivery_document_id_idx ON webhook_delivery(document_id);
