/** GET /devices/{id}: one device, with its online state. Another user's device is not found. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Device, findVisibleDevice, toDevice } from './model/devices.ts';
import { lastSeenOf } from './model/presence.ts';

export default defineHttpFunction({
  name: 'getDevice',
  domain: 'devices',
  method: 'GET',
  path: '/devices/{id}',
  auth: 'user',
  summary: 'Get a device',
  params: z.object({ id: z.uuid() }),
  responses: { 200: Device },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const row = await findVisibleDevice(deps.db, params.id, user);
    if (!row) throw new Problem('not-found', `No device ${params.id}`);
    const seen = await lastSeenOf(deps, [row.id]);
    return { status: 200, body: toDevice(row, seen.get(row.id) ?? null, deps.config.DEVICE_ONLINE_SECONDS * 1000) };
  },
});
