/**
 * GET /devices/{id}/telemetry: a device's history, raw (paged) or one aggregated value per bucket.
 * Only the device's owner (or an admin) may read it; anyone else gets the 404 of a device that does not exist.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { QueryResult, querySelection, selectTelemetry } from './model/telemetry-query.ts';

export default defineHttpFunction({
  name: 'queryMetrics',
  domain: 'monitoring',
  method: 'GET',
  path: '/devices/{id}/telemetry',
  auth: 'user',
  summary: 'Query a device\'s telemetry: raw points or aggregated buckets',
  params: z.object({ id: z.uuid() }),
  query: z.object({ ...querySelection, cursor: z.string().max(500).optional() }),
  responses: { 200: QueryResult },
  problems: ['not-found'],
  async handler({ params, query, user, deps }) {
    if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
    return { status: 200, body: await selectTelemetry(deps.telemetry, params.id, query, 'query') };
  },
});
