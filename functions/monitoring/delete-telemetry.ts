/** DELETE /devices/{id}/telemetry?keys=&from=&to=: remove a range of a device's telemetry (all of it without parameters). */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Instant, Keys } from './model/telemetry-query.ts';

export default defineHttpFunction({
  name: 'deleteTelemetry',
  domain: 'monitoring',
  method: 'DELETE',
  path: '/devices/{id}/telemetry',
  auth: 'user',
  summary: 'Delete telemetry of a device: some keys, a time range, or everything',
  params: z.object({ id: z.uuid() }),
  query: z.object({ keys: Keys.optional(), from: Instant.optional(), to: Instant.optional() }),
  responses: { 204: null },
  problems: ['not-found'],
  async handler({ params, query, user, deps }) {
    if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
    if (query.from !== undefined && query.to !== undefined && query.from >= query.to) {
      throw new Problem('validation', 'query.from: must be before `to`', { errors: [{ path: 'query.from', message: 'must be before `to`' }] });
    }
    await deps.telemetry.deleteRange({
      deviceId: params.id,
      ...(query.keys?.length ? { keys: query.keys } : {}),
      ...(query.from !== undefined ? { from: query.from } : {}),
      ...(query.to !== undefined ? { to: query.to } : {}),
    });
    return { status: 204 };
  },
});
