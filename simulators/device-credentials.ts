/**
 * The ids and tokens of simulated devices, as a file a later run can reuse (`--devices`, `--save-devices`).
 *
 * Tokens are shown once, when devices are made, so keeping them is the only way to send as the same
 * devices again. The file is `[{"id": "…", "token": "dt_…"}]`; the answer of `POST /devices/bulk`
 * (`{"devices": [{"device": {"id"}, "deviceToken"}]}`) is read as well.
 */
import { writeFileSync } from 'node:fs';
import { z } from 'zod';

export interface DeviceCredentials {
  id: string;
  token: string;
}

const Saved = z.array(z.object({ id: z.string().min(1), token: z.string().min(1) }));
const BulkAnswer = z.object({ devices: z.array(z.object({ device: z.object({ id: z.string().min(1) }), deviceToken: z.string().min(1) })) });

export function readDeviceCredentials(text: string, source: string): DeviceCredentials[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${source} is not JSON`);
  }
  const saved = Saved.safeParse(json);
  if (saved.success) return saved.data;
  const bulk = BulkAnswer.safeParse(json);
  if (bulk.success) return bulk.data.devices.map((d) => ({ id: d.device.id, token: d.deviceToken }));
  throw new Error(`${source}: expected [{"id", "token"}] or a POST /devices/bulk answer`);
}

export function writeDeviceCredentials(file: string, devices: readonly DeviceCredentials[]): void {
  // Tokens are secrets: readable by the owner only.
  writeFileSync(file, JSON.stringify(devices, null, 2) + '\n', { mode: 0o600 });
}
