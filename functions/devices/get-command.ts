/** GET /devices/{id}/commands/{cid}: one command of a device, with its status and result. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { findVisibleDevice } from './model/devices.ts';
import { Command, findCommand } from './model/device-commands.ts';

export default defineHttpFunction({
  name: 'getCommand',
  domain: 'devices',
  method: 'GET',
  path: '/devices/{id}/commands/{cid}',
  auth: 'user',
  summary: 'One command of a device',
  params: z.object({ id: z.uuid(), cid: z.uuid() }),
  responses: { 200: z.object({ command: Command }) },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const device = await findVisibleDevice(deps.db, params.id, user);
    const command = device ? await findCommand(deps.db, device.id, params.cid) : undefined;
    if (!command) throw new Problem('not-found', `No command ${params.cid} of device ${params.id}`);
    return { status: 200, body: { command } };
  },
});
