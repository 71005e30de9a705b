-- Categories as data (per tenant, versioned), people's corrections as training labels, what each
-- tenant's labels taught the built-in classifier, and per-document provenance and thumbnails.
CREATE TABLE category (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id    uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  name         text NOT NULL,
  description  text NOT NULL,
  keywords     text[] NOT NULL DEFAULT '{}',
  fields       jsonb NOT NULL DEFAULT '{"type":"object","properties":{}}',
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  updated_at   timestamptz(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX category_tenant_id_name_key ON category(tenant_id, name);

-- Every version of every category, so a document's result can be traced to the definition it used.
CREATE TABLE category_version (
  category_id  uuid NOT NULL REFERENCES category(id) ON DELETE CASCADE ON UPDATE CASCADE,
  version      integer NOT NULL,
  definition   jsonb NOT NULL,
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (category_id, version)
);

-- A person's confirmed category for a document (one per document: the latest correction wins).
CREATE TABLE label (
  document_id  uuid PRIMARY KEY REFERENCES document(id) ON DELETE CASCADE ON UPDATE CASCADE,
  tenant_id    uuid NOT NULL REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  category     text NOT NULL,
  tokens       text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX label_tenant_id_idx ON label(tenant_id);

-- Token counts per category learnt from a tenant's labels, kept incrementally (read once per document).
CREATE TABLE tenant_model (
  tenant_id    uuid PRIMARY KEY REFERENCES tenant(id) ON DELETE CASCADE ON UPDATE CASCADE,
  learned      jsonb NOT NULL DEFAULT '{"docs":{},"tokens":{}}',
  labels       integer NOT NULL DEFAULT 0,
  updated_at   timestamptz(3) NOT NULL DEFAULT now()
);

ALTER TABLE document ADD COLUMN category_version integer;
ALTER TABLE document ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}';
ALTER TABLE document ADD COLUMN thumbnail_key text;
ALTER TABLE document ADD COLUMN corrected_at timestamptz(3);
