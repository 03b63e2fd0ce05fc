/** GET /devices/{id}/telemetry/latest: the last value and time of each key. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Keys, RawItem } from './model/telemetry-query.ts';

export default defineHttpFunction({
  name: 'latestMetrics',
  domain: 'monitoring',
  method: 'GET',
  path: '/devices/{id}/telemetry/latest',
  auth: 'user',
  summary: 'The latest value of each key of a device',
  params: z.object({ id: z.uuid() }),
  query: z.object({ keys: Keys.optional() }),
  responses: { 200: z.object({ items: z.array(RawItem) }) },
  problems: ['not-found'],
  async handler({ params, query, user, deps }) {
    if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
    const items = await deps.telemetry.latest(params.id, query.keys?.length ? query.keys : undefined);
    return { status: 200, body: { items } };
  },
});
