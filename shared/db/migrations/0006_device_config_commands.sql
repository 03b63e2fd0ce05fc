-- Desired configuration, reported state and commands of a device (functions/devices/model/device-config.ts and
-- device-commands.ts). All three belong to their device and go with it.

-- The owner's desired configuration; the version counts every change (a device without a row has version 0, {}).
CREATE TABLE device_config (
  device_id uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  config jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
  updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);

-- What the device last reported, with the configuration version it says it applied (if it said).
CREATE TABLE device_state (
  device_id uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  version integer CHECK (version >= 0),
  state jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
  reported_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
);

-- Commands to a device: queued → sent → succeeded | failed, or expired once expires_at passes unanswered.
CREATE TABLE device_commands (
  id uuid PRIMARY KEY,
  device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  owner_id uuid NOT NULL,
  name text NOT NULL,
  params jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL CHECK (status IN ('queued', 'sent', 'succeeded', 'failed', 'expired')),
  result jsonb,
  -- Millisecond precision, so a timestamp survives the round trip through a JS Date in a page cursor.
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  sent_at timestamptz,
  completed_at timestamptz,
  expires_at timestamptz NOT NULL
);
-- Newest first per device, with a keyset cursor on (created_at, id).
CREATE INDEX device_commands_device_created ON device_commands (device_id, created_at DESC, id DESC);
-- What a device still has to do, oldest first.
CREATE INDEX device_commands_pending ON device_commands (device_id, created_at) WHERE status IN ('queued', 'sent');
-- The expiry sweep.
CREATE INDEX device_commands_expiry ON device_commands (expires_at) WHERE status IN ('queued', 'sent');
