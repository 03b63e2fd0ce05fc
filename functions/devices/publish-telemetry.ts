/**
 * POST /telemetry: a device sends telemetry with `Authorization: Device <token>`. Answers 202 once RabbitMQ
 * has confirmed the message; unknown, rotated or disabled devices are refused and nothing is published.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { warmForDevices } from '../../shared/deploy-policy.ts';
import { firstHeader } from '../../shared/http/harness.ts';
import { authenticateDevice, parseDeviceAuthorization } from './model/device-auth.ts';
import { parseTelemetry, publishTelemetry, TelemetryPayload } from './model/telemetry.ts';

export default defineHttpFunction({
  name: 'publishTelemetry',
  domain: 'devices',
  deploy: warmForDevices,
  method: 'POST',
  path: '/telemetry',
  auth: 'device',
  summary: 'Send telemetry as a device',
  description:
    'ThingsBoard\'s shape: `{ts?, values}` or an array of them; `ts` in epoch ms, default now, at most TELEMETRY_MAX_FUTURE_SKEW_SECONDS ahead of it.',
  // The schema is documented here and enforced by parseTelemetry, after the device is authenticated and the
  // number of points is checked, so a bad token is refused before any parsing work.
  body: z.unknown().meta({ ...z.toJSONSchema(TelemetryPayload, { io: 'input' }) }),
  responses: { 202: z.object({ id: z.string().describe('Message id on the bus'), accepted: z.number().int() }) },
  problems: ['invalid-token', 'device-disabled', 'too-many-points', 'unavailable'],
  async handler({ body, request, deps }) {
    const device = await authenticateDevice(deps, parseDeviceAuthorization(firstHeader(request.headers.authorization)));
    const points = parseTelemetry(body, deps.config.TELEMETRY_MAX_POINTS, { maxFutureSkewMs: deps.config.TELEMETRY_MAX_FUTURE_SKEW_SECONDS * 1000 });
    const published = await publishTelemetry(deps, device, points, 'http');
    return { status: 202, body: { id: published.messageId, accepted: published.points } };
  },
});
