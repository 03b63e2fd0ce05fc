/** POST /devices/bulk: register up to 1,000 devices at once, all or nothing. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { enqueueEvents } from '../../shared/outbox.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { Device, DeviceFields, insertDevices, toDevice } from './model/devices.ts';
import { deviceEvent } from './model/device-events.ts';

export default defineHttpFunction({
  name: 'bulkAddDevices',
  domain: 'devices',
  method: 'POST',
  path: '/devices/bulk',
  auth: 'user',
  summary: 'Register up to 1,000 devices in one transaction',
  description: 'Either every device is created or none is; each comes back with its token, shown once.',
  body: z.object({ devices: z.array(DeviceFields).min(1).max(1000) }),
  responses: { 201: z.object({ devices: z.array(z.object({ device: Device, deviceToken: z.string() })) }) },
  async handler({ body, user, deps }) {
    const created = await deps.db.transaction(async (tx) => {
      const inserted = await insertDevices(tx, deps.config, user.userId, body.devices);
      const events = inserted.map(({ row }) => {
        const device = toDevice(row, null, 0);
        return deviceEvent('device.created', device.id, { ownerId: device.ownerId, device });
      });
      await enqueueEvents(tx, exchanges.events, events);
      return inserted;
    });
    deps.outbox.nudge();
    return { status: 201, body: { devices: created.map(({ row, token }) => ({ device: toDevice(row, null, 0), deviceToken: token })) } };
  },
});
