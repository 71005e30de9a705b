-- Webhooks (issue 20): per-tenant endpoints and the delivery log. An endpoint's signing secret is stored
-- only encrypted (AES-256-GCM under a key derived from the server's signing secret); a delivery is one
-- event for one endpoint, retried with backoff until delivered or out of attempts. `next_attempt_at` is
-- persisted so the schedule survives restarts; a claimed delivery's `next_attempt_at` is pushed past the
-- request timeout (a lease), so a dispatcher that died mid-request is retried by another.
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'DELIVERED', 'FAILED');

CREATE TABLE webhook_endpoint (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id          uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  url                text NOT NULL,
  description        text NOT NULL DEFAULT '',
  events             text[] NOT NULL DEFAULT '{}',
  enabled            boolean NOT NULL DEFAULT true,
  secret_ciphertext  text NOT NULL,
  secret_prefix      text NOT NULL,
  created_at         timestamptz(3) NOT NULL DEFAULT now(),
  updated_at         timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoint_tenant_id_idx ON webhook_endpoint(tenant_id);

CREATE TABLE webhook_delivery (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id        uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  endpoint_id      uuid NOT NULL REFERENCES webhook_endpoint(id) ON DELETE CASCADE ON UPDATE CASCADE,
  event_id         text NOT NULL,
  event_type       text NOT NULL,
  body             text NOT NULL,
  status           "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz(3),
  last_attempt_at  timestamptz(3),
  last_status_code integer,
  last_error       text,
  delivered_at     timestamptz(3),
  created_at       timestamptz(3) NOT NULL DEFAULT now(),
  updated_at       timestamptz(3) NOT NULL DEFAULT now()
);
-- One delivery per (endpoint, event): a fan-out done twice adds nothing.
CREATE UNIQUE INDEX webhook_delivery_endpoint_id_event_id_key ON webhook_delivery(endpoint_id, event_id);
CREATE INDEX webhook_delivery_status_next_attempt_at_idx ON webhook_delivery(status, next_attempt_at);
CREATE INDEX webhook_delivery_tenant_id_created_at_idx ON webhook_delivery(tenant_id, created_at);
