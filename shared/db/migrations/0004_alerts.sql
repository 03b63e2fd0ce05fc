-- Threshold alerts of the monitoring domain (functions/monitoring/model/alerts.ts): rules per device and key,
-- and the alerts they open and clear. Unlike telemetry these reference devices: a rule without its device
-- has no meaning, and the cascade removes rules and alerts with the device in the same transaction.
CREATE TABLE alert_rules (
  id uuid PRIMARY KEY,
  device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL,
  key text NOT NULL,
  op text NOT NULL CHECK (op IN ('gt', 'lt', 'outside', 'nodata')),
  value double precision,
  low double precision,
  high double precision,
  for_seconds integer NOT NULL DEFAULT 0 CHECK (for_seconds >= 0),
  -- Evaluation state, kept here so it survives restarts and is shared by every ingest process (which lock
  -- the row while evaluating): since when the condition has held, and the newest point time evaluated, so
  -- a redelivered or late message never re-opens or re-clears anything.
  pending_since timestamptz,
  last_ts timestamptz,
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);
CREATE INDEX alert_rules_device_key ON alert_rules (device_id, key);
-- The no-data sweep reads every nodata rule.
CREATE INDEX alert_rules_nodata ON alert_rules (op) WHERE op = 'nodata';

CREATE TABLE alerts (
  id uuid PRIMARY KEY,
  rule_id uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
  device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL,
  key text NOT NULL,
  state text NOT NULL CHECK (state IN ('open', 'cleared')),
  value double precision,
  opened_at timestamptz NOT NULL,
  cleared_at timestamptz,
  acknowledged_at timestamptz
);
-- At most one open alert per rule, whatever races the row lock might miss.
CREATE UNIQUE INDEX alerts_one_open_per_rule ON alerts (rule_id) WHERE state = 'open';
CREATE INDEX alerts_owner_opened ON alerts (owner_id, opened_at DESC, id DESC);
CREATE INDEX alerts_device_opened ON alerts (device_id, opened_at DESC, id DESC);
