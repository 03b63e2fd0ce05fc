-- Devices of the devices domain, and the outbox that carries their events to RabbitMQ.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE devices (
  id uuid PRIMARY KEY,
  owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name text NOT NULL,
  type text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  metadata jsonb NOT NULL DEFAULT '{}',
  location jsonb,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- SHA-256 of the device token: the token itself is shown once and never stored.
  token_hash text NOT NULL UNIQUE,
  -- Lower-cased name and tags, what `q` searches with a trigram index.
  search text NOT NULL,
  -- Millisecond precision, so a timestamp survives the round trip through a JS Date in a page cursor.
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);

-- Keyset pagination per owner in each sort order, and for admins across owners.
CREATE INDEX devices_owner_created ON devices (owner_id, created_at, id);
CREATE INDEX devices_owner_name ON devices (owner_id, lower(name), id);
CREATE INDEX devices_created ON devices (created_at, id);
CREATE INDEX devices_name ON devices (lower(name), id);
CREATE INDEX devices_tags ON devices USING gin (tags);
CREATE INDEX devices_search ON devices USING gin (search gin_trgm_ops);

-- Transactional outbox: a device change and its event commit together; a relay publishes and marks them.
CREATE TABLE outbox (
  seq bigserial PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  exchange text NOT NULL,
  routing_key text NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
