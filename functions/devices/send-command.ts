/**
 * POST /devices/{id}/commands: queue a command to a device (202). With `?wait=true` the answer waits until the
 * device completes it or it expires (at most its timeout, and 30 s), then carries its state whatever it is.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Command, CommandName, createCommand, MAX_COMMAND_TIMEOUT_SECONDS, waitForCommand } from './model/device-commands.ts';
import { MAX_WAIT_MS } from './model/device-changes.ts';

export default defineHttpFunction({
  name: 'sendCommand',
  domain: 'devices',
  method: 'POST',
  path: '/devices/{id}/commands',
  auth: 'user',
  summary: 'Send a command to a device (optionally waiting for its result)',
  params: z.object({ id: z.uuid() }),
  query: z.object({
    wait: z.enum(['true', 'false']).transform((v) => v === 'true').optional().describe('Answer once the command completes or expires (at most 30 s)'),
  }),
  // Bounds of params are checked by the model, so params over the size limit are a 413 rather than a 400.
  body: z.object({
    name: CommandName,
    params: z.record(z.string(), z.unknown()).optional().describe('A JSON object, at most 64 KiB, 32 levels deep, no NUL characters'),
    timeoutSeconds: z.number().int().min(1).max(MAX_COMMAND_TIMEOUT_SECONDS).optional().describe('Expires unanswered after this long; default 60'),
  }),
  responses: { 202: z.object({ command: Command }) },
  problems: ['not-found', 'conflict'],
  async handler({ params, query, body, user, deps }) {
    const command = await createCommand(deps, user, params.id, body);
    if (!query.wait) return { status: 202, body: { command } };
    const latest = await waitForCommand(deps, command.id, Date.now() + MAX_WAIT_MS);
    return { status: 202, body: { command: latest ?? command } };
  },
});
