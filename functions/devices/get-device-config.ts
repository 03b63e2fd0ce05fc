/** GET /devices/{id}/config: the desired configuration, the device's last reported state, and whether they agree. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { findVisibleDevice } from './model/devices.ts';
import { ConfigView, configView, versionTag } from './model/device-config.ts';

export default defineHttpFunction({
  name: 'getDeviceConfig',
  domain: 'devices',
  method: 'GET',
  path: '/devices/{id}/config',
  auth: 'user',
  summary: "A device's desired configuration and reported state",
  params: z.object({ id: z.uuid() }),
  responses: { 200: ConfigView },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const device = await findVisibleDevice(deps.db, params.id, user);
    if (!device) throw new Problem('not-found', `No device ${params.id}`);
    const view = await configView(deps.db, device.id);
    return { status: 200, headers: { etag: versionTag(view.desired.version) }, body: view };
  },
});
