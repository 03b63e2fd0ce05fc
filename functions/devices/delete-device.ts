/** DELETE /devices/{id}: remove a device; its token stops working at once and `device.deleted` goes out. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { enqueueEvents } from '../../shared/outbox.ts';
import { exchanges } from '../../shared/bus/topology.ts';
import { findVisibleDevice } from './model/devices.ts';
import { deviceEvent } from './model/device-events.ts';
import { forgetDeviceToken } from './model/device-auth.ts';
import { forgetPresence } from './model/presence.ts';

export default defineHttpFunction({
  name: 'deleteDevice',
  domain: 'devices',
  method: 'DELETE',
  path: '/devices/{id}',
  auth: 'user',
  summary: 'Delete a device',
  params: z.object({ id: z.uuid() }),
  responses: { 204: null },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const deleted = await deps.db.transaction(async (tx) => {
      const current = await findVisibleDevice(tx, params.id, user, true);
      if (!current) return undefined;
      await tx.query('DELETE FROM devices WHERE id = $1', [current.id]);
      await enqueueEvents(tx, exchanges.events, [deviceEvent('device.deleted', current.id, { ownerId: current.owner_id })]);
      return current;
    });
    if (!deleted) throw new Problem('not-found', `No device ${params.id}`);
    deps.outbox.nudge();
    await forgetDeviceToken(deps, deleted.token_hash, deleted.id);
    await forgetPresence(deps, { id: deleted.id, ownerId: deleted.owner_id });
    return { status: 204 };
  },
});
