/**
 * GET /device/commands: a device takes its pending commands, oldest first; queued ones are marked sent. With
 * `?wait=N` it waits up to N seconds (30 at most) for one to be pending. A command is delivered again until
 * answered, so act on each id once.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { firstHeader } from '../../shared/http/harness.ts';
import { authenticateDevice, parseDeviceAuthorization } from './model/device-auth.ts';
import { DeviceCommandMessage, markCommandsSent, pendingCommands, toDeviceMessage, waitForPendingCommands } from './model/device-commands.ts';

export default defineHttpFunction({
  name: 'pendingDeviceCommands',
  domain: 'devices',
  deploy: warmForDevices,
  method: 'GET',
  path: '/device/commands',
  auth: 'device',
  summary: 'Take pending commands as a device (optionally long-polling)',
  query: z.object({ wait: z.coerce.number().int().min(0).max(30).default(0).describe('Seconds to wait for a command') }),
  responses: { 200: z.object({ commands: z.array(DeviceCommandMessage) }) },
  problems: ['invalid-token', 'device-disabled'],
  async handler({ query, request, deps }) {
    const device = await authenticateDevice(deps, parseDeviceAuthorization(firstHeader(request.headers.authorization)));
    const pending = query.wait > 0 ? await waitForPendingCommands(deps, device.id, Date.now() + query.wait * 1000) : await pendingCommands(deps.db, device.id);
    await markCommandsSent(deps, device.id, pending.filter((c) => c.status === 'queued').map((c) => c.id));
    return { status: 200, body: { commands: pending.map(toDeviceMessage) } };
  },
});
