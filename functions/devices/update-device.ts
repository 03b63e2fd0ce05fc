/** PATCH /devices/{id}: change a device's fields or status; disabling it stops its telemetry at once. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { enqueueEvents } from '../../shared/outbox.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { Device, DeviceFields, DeviceStatus, deviceColumns, findVisibleDevice, searchText, toDevice, type DeviceRow } from './model/devices.ts';
import { deviceEvent } from './model/device-events.ts';
import { forgetDeviceToken } from './model/device-auth.ts';
import { lastSeenOf } from './model/presence.ts';

const Body = DeviceFields.partial()
  .extend({ status: DeviceStatus.optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change');

export default defineHttpFunction({
  name: 'updateDevice',
  domain: 'devices',
  method: 'PATCH',
  path: '/devices/{id}',
  auth: 'user',
  summary: 'Change a device (name, type, tags, metadata, location, status)',
  params: z.object({ id: z.uuid() }),
  body: Body,
  responses: { 200: Device },
  problems: ['not-found'],
  async handler({ params, body, user, deps }) {
    const updated = await deps.db.transaction(async (tx) => {
      const current = await findVisibleDevice(tx, params.id, user, true);
      if (!current) return undefined;
      const name = body.name ?? current.name;
      const tags = body.tags ? [...new Set(body.tags)] : current.tags;
      const { rows } = await tx.query<DeviceRow>(
        `UPDATE devices SET name = $2, type = $3, tags = $4, metadata = $5, location = $6, status = $7, search = $8,
                updated_at = date_trunc('milliseconds', now())
          WHERE id = $1 RETURNING ${deviceColumns}`,
        [
          current.id,
          name,
          body.type ?? current.type,
          tags,
          JSON.stringify(body.metadata ?? current.metadata),
          body.location === undefined ? JSON.stringify(current.location) : JSON.stringify(body.location),
          body.status ?? current.status,
          searchText(name, tags),
        ],
      );
      const row = rows[0]!;
      const changed = Object.keys(body).filter((k) => body[k as keyof typeof body] !== undefined);
      await enqueueEvents(tx, exchanges.events, [deviceEvent('device.updated', row.id, { ownerId: row.owner_id, changed, device: toDevice(row, null, 0) })]);
      return row;
    });
    if (!updated) throw new Problem('not-found', `No device ${params.id}`);
    deps.outbox.nudge();
    await forgetDeviceToken(deps, updated.token_hash, updated.id);
    const seen = await lastSeenOf(deps, [updated.id]);
    return { status: 200, body: toDevice(updated, seen.get(updated.id) ?? null, deps.config.DEVICE_ONLINE_SECONDS * 1000) };
  },
});
