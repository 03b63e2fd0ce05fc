-- Device time series of the monitoring domain (shared/adapters/telemetry/postgres.ts): one row per device,
-- key and time, the value in the column of its type. No foreign key to devices: monitoring is its own
-- domain, and the telemetry store's deleteDevice removes a device's rows.
CREATE TABLE telemetry (
  device_id uuid NOT NULL,
  key text NOT NULL,
  ts timestamptz NOT NULL,
  num double precision,
  bool boolean,
  str text,
  PRIMARY KEY (device_id, key, ts),
  CONSTRAINT telemetry_one_value CHECK (num_nonnulls(num, bool, str) = 1)
);
-- The primary key serves reads of given keys; this one serves raw reads across all keys in time order.
CREATE INDEX telemetry_device_ts ON telemetry (device_id, ts);

-- Ids of the bus messages already stored, so a redelivered message stores nothing twice.
CREATE TABLE telemetry_messages (
  message_id text PRIMARY KEY,
  device_id uuid NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);
-- Retention removes markers by age; deleting a device removes its markers.
CREATE INDEX telemetry_messages_stored_at ON telemetry_messages (stored_at);
CREATE INDEX telemetry_messages_device ON telemetry_messages (device_id);
