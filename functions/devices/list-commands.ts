/** GET /devices/{id}/commands: a device's commands, newest first, paged with nextCursor. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { findVisibleDevice } from './model/devices.ts';
import { Command, commandPage } from './model/device-commands.ts';

export default defineHttpFunction({
  name: 'listCommands',
  domain: 'devices',
  method: 'GET',
  path: '/devices/{id}/commands',
  auth: 'user',
  summary: "List a device's commands, newest first",
  params: z.object({ id: z.uuid() }),
  query: z.object({
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(500).optional().describe('nextCursor of the previous page'),
  }),
  responses: { 200: z.object({ commands: z.array(Command), nextCursor: z.string().nullable() }) },
  problems: ['not-found'],
  async handler({ params, query, user, deps }) {
    const device = await findVisibleDevice(deps.db, params.id, user);
    if (!device) throw new Problem('not-found', `No device ${params.id}`);
    return { status: 200, body: await commandPage(deps.db, device.id, query) };
  },
});
