-- docfleet initial schema. Keep in step with prisma/schema.prisma (tests/schema.test.ts checks it).
CREATE TYPE "DocumentStatus" AS ENUM ('PENDING_UPLOAD', 'QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED');
CREATE TYPE "Stage" AS ENUM ('PARSE', 'UNDERSTAND', 'EMBED', 'INDEX');

CREATE TABLE tenant (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT now()
);

CREATE TABLE api_key (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id     uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  name          text NOT NULL,
  hash          text NOT NULL,
  prefix        text NOT NULL,
  scopes        text[] NOT NULL DEFAULT '{}',
  expires_at    timestamptz(3),
  revoked_at    timestamptz(3),
  last_used_at  timestamptz(3),
  created_at    timestamptz(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX api_key_hash_key ON api_key(hash);
CREATE INDEX api_key_tenant_id_idx ON api_key(tenant_id);

CREATE TABLE batch (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id       uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  name            text NOT NULL,
  options         jsonb NOT NULL DEFAULT '{}',
  event_seq       integer NOT NULL DEFAULT 0,
  total           integer NOT NULL DEFAULT 0,
  pending_upload  integer NOT NULL DEFAULT 0,
  queued          integer NOT NULL DEFAULT 0,
  processing      integer NOT NULL DEFAULT 0,
  completed       integer NOT NULL DEFAULT 0,
  failed          integer NOT NULL DEFAULT 0,
  needs_review    integer NOT NULL DEFAULT 0,
  at_parse        integer NOT NULL DEFAULT 0,
  at_understand   integer NOT NULL DEFAULT 0,
  at_embed        integer NOT NULL DEFAULT 0,
  at_index        integer NOT NULL DEFAULT 0,
  created_at      timestamptz(3) NOT NULL DEFAULT now(),
  updated_at      timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX batch_tenant_id_created_at_idx ON batch(tenant_id, created_at);

CREATE TABLE document (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id         uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  batch_id          uuid NOT NULL REFERENCES batch(id) ON DELETE CASCADE ON UPDATE CASCADE,
  name              text NOT NULL,
  sha256            text NOT NULL,
  object_key        text NOT NULL,
  size              integer NOT NULL,
  content_type      text,
  detected_type     text,
  status            "DocumentStatus" NOT NULL DEFAULT 'PENDING_UPLOAD',
  stage             "Stage",
  category          text,
  confidence        double precision,
  metadata          jsonb,
  page_count        integer,
  text_key          text,
  error_code        text,
  error_message     text,
  needs_review      boolean NOT NULL DEFAULT false,
  attempts          integer NOT NULL DEFAULT 0,
  timings           jsonb NOT NULL DEFAULT '{}',
  lease_expires_at  timestamptz(3),
  created_at        timestamptz(3) NOT NULL DEFAULT now(),
  updated_at        timestamptz(3) NOT NULL DEFAULT now(),
  completed_at      timestamptz(3)
);
CREATE UNIQUE INDEX document_tenant_id_sha256_key ON document(tenant_id, sha256);
CREATE INDEX document_batch_id_status_idx ON document(batch_id, status);
CREATE INDEX document_tenant_id_created_at_idx ON document(tenant_id, created_at);
CREATE INDEX document_status_lease_expires_at_idx ON document(status, lease_expires_at);

CREATE TABLE event (
  id           bigserial PRIMARY KEY,
  tenant_id    uuid NOT NULL,
  batch_id     uuid NOT NULL REFERENCES batch(id) ON DELETE CASCADE ON UPDATE CASCADE,
  seq          integer NOT NULL,
  document_id  uuid REFERENCES document(id) ON DELETE CASCADE ON UPDATE CASCADE,
  type         text NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX event_batch_id_seq_key ON event(batch_id, seq);
CREATE INDEX event_document_id_id_idx ON event(document_id, id);

CREATE TABLE outbox (
  id          bigserial PRIMARY KEY,
  topic       text NOT NULL,
  key         text NOT NULL,
  payload     jsonb NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  sent_at     timestamptz(3),
  attempts    integer NOT NULL DEFAULT 0,
  last_error  text
);
CREATE INDEX outbox_sent_at_id_idx ON outbox(sent_at, id);
-- the relay only ever scans unsent rows
CREATE INDEX outbox_unsent_idx ON outbox(id) WHERE sent_at IS NULL;
