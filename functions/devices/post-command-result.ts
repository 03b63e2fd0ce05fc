/**
 * POST /device/commands/{cid}/result: a device answers one of its commands, `{status: "succeeded" | "failed",
 * result?}`; 409 when the command expired or was already answered.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { firstHeader } from '../../shared/http/harness.ts';
import { authenticateDevice, parseDeviceAuthorization } from './model/device-auth.ts';
import { Command, CommandResult, completeCommand } from './model/device-commands.ts';

export default defineHttpFunction({
  name: 'postCommandResult',
  domain: 'devices',
  deploy: warmForDevices,
  method: 'POST',
  path: '/device/commands/{cid}/result',
  auth: 'device',
  summary: 'Answer a command as a device',
  params: z.object({ cid: z.uuid() }),
  // Documented here and enforced by completeCommand after the device is authenticated, so a bad token is
  // refused before any parsing work (and a result over the size limit is a 413).
  body: z.unknown().meta({ ...z.toJSONSchema(CommandResult, { io: 'input' }) }),
  responses: { 200: z.object({ command: Command }) },
  problems: ['invalid-token', 'device-disabled', 'not-found', 'command-expired', 'conflict'],
  async handler({ params, body, request, deps }) {
    const device = await authenticateDevice(deps, parseDeviceAuthorization(firstHeader(request.headers.authorization)));
    return { status: 200, body: { command: await completeCommand(deps, device, params.cid, body) } };
  },
});
