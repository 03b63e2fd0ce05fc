/** PUT /device/state: a device reports its state `{version?, state}`, with the configuration version it applied. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { firstHeader } from '../../shared/http/harness.ts';
import { authenticateDevice, parseDeviceAuthorization } from './model/device-auth.ts';
import { reportState, StateReport } from './model/device-config.ts';

export default defineHttpFunction({
  name: 'reportDeviceState',
  domain: 'devices',
  deploy: warmForDevices,
  method: 'PUT',
  path: '/device/state',
  auth: 'device',
  summary: 'Report the device state as a device',
  // Documented here and enforced by reportState after the device is authenticated, so a bad token is refused
  // before any parsing work (and a state over the size limit is a 413).
  body: z.unknown().meta({ ...z.toJSONSchema(StateReport, { io: 'input' }) }),
  responses: { 204: null },
  problems: ['invalid-token', 'device-disabled'],
  async handler({ body, request, deps }) {
    const device = await authenticateDevice(deps, parseDeviceAuthorization(firstHeader(request.headers.authorization)));
    await reportState(deps, device, body);
    return { status: 204 };
  },
});
