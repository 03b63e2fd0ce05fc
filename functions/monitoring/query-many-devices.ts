/**
 * POST /telemetry/query: the same query over several devices at once. Devices the caller may not see are
 * listed under `missing` (exactly like ids that do not exist) rather than failing the whole query.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { QueryResult, querySelection, selectTelemetry } from './model/telemetry-query.ts';

export default defineHttpFunction({
  name: 'queryManyDevices',
  domain: 'monitoring',
  method: 'POST',
  path: '/telemetry/query',
  auth: 'user',
  summary: 'Query the telemetry of several devices at once',
  body: z.object({ deviceIds: z.array(z.uuid()).min(1).max(100), ...querySelection }),
  responses: {
    200: z.object({
      results: z.array(z.object({ deviceId: z.string(), ...QueryResult.shape })),
      missing: z.array(z.string()).describe('Ids that are not devices of the caller'),
    }),
  },
  async handler({ body, user, deps }) {
    const ids = [...new Set(body.deviceIds.map((id) => id.toLowerCase()))];
    const visible = await deps.directory.visibleDevices(user, ids);
    const results = await Promise.all(
      ids.filter((id) => visible.has(id)).map(async (deviceId) => ({ deviceId, ...(await selectTelemetry(deps.telemetry, deviceId, body, 'body')) })),
    );
    return { status: 200, body: { results, missing: ids.filter((id) => !visible.has(id)) } };
  },
});
