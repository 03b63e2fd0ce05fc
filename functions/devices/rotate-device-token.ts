/** POST /devices/{id}/token: give a device a new token; the old one stops working within a second. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { enqueueEvents } from '../../shared/outbox.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { Device, deviceColumns, findVisibleDevice, toDevice, type DeviceRow } from './model/devices.ts';
import { deviceToken } from './model/device-tokens.ts';
import { deviceEvent } from './model/device-events.ts';
import { forgetDeviceToken } from './model/device-auth.ts';
import { lastSeenOf } from './model/presence.ts';

export default defineHttpFunction({
  name: 'rotateDeviceToken',
  domain: 'devices',
  method: 'POST',
  path: '/devices/{id}/token',
  auth: 'user',
  summary: 'Rotate the device token (the new one is shown once)',
  params: z.object({ id: z.uuid() }),
  responses: { 200: z.object({ device: Device, deviceToken: z.string() }) },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const result = await deps.db.transaction(async (tx) => {
      const current = await findVisibleDevice(tx, params.id, user, true);
      if (!current) return undefined;
      const generation = (current.token_generation ?? 0) + 1;
      const { token, hash } = deviceToken(deps.config, current.id, generation);
      const { rows } = await tx.query<DeviceRow>(
        `UPDATE devices SET token_hash = $2, token_generation = $3, updated_at = date_trunc('milliseconds', now()) WHERE id = $1 RETURNING ${deviceColumns}`,
        [current.id, hash, generation],
      );
      await enqueueEvents(tx, exchanges.events, [deviceEvent('device.token_rotated', current.id, { ownerId: current.owner_id })]);
      return { row: rows[0]!, oldHash: current.token_hash, token };
    });
    if (!result) throw new Problem('not-found', `No device ${params.id}`);
    deps.outbox.nudge();
    await forgetDeviceToken(deps, result.oldHash, result.row.id);
    const seen = await lastSeenOf(deps, [result.row.id]);
    return { status: 200, body: { device: toDevice(result.row, seen.get(result.row.id) ?? null, deps.config.DEVICE_ONLINE_SECONDS * 1000), deviceToken: result.token } };
  },
});
