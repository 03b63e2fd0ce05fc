/** POST /devices: register a device; answers its token once (only a hash is kept). */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { enqueueEvents } from '../../shared/outbox.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { Device, DeviceFields, insertDevices, toDevice } from './model/devices.ts';
import { deviceEvent } from './model/device-events.ts';

export default defineHttpFunction({
  name: 'addDevice',
  domain: 'devices',
  method: 'POST',
  path: '/devices',
  auth: 'user',
  summary: 'Register a device and get its token (shown once)',
  body: DeviceFields,
  responses: { 201: z.object({ device: Device, deviceToken: z.string() }) },
  async handler({ body, user, deps }) {
    const [created] = await deps.db.transaction(async (tx) => {
      const inserted = await insertDevices(tx, deps.config, user.userId, [body]);
      const device = toDevice(inserted[0]!.row, null, 0);
      await enqueueEvents(tx, exchanges.events, [deviceEvent('device.created', device.id, { ownerId: device.ownerId, device })]);
      return inserted;
    });
    deps.outbox.nudge();
    return { status: 201, body: { device: toDevice(created!.row, null, 0), deviceToken: created!.token } };
  },
});
