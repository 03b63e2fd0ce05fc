/** POST /alerts/{id}/ack: mark an alert as seen; acknowledging again keeps the first time. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Alert, alertColumns, toAlert, type AlertRow } from './model/alerts.ts';

export default defineHttpFunction({
  name: 'acknowledgeAlert',
  domain: 'monitoring',
  method: 'POST',
  path: '/alerts/{id}/ack',
  auth: 'user',
  summary: 'Acknowledge an alert',
  params: z.object({ id: z.uuid() }),
  responses: { 200: Alert },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const { rows } = await deps.db.query<AlertRow>(
      `UPDATE alerts SET acknowledged_at = COALESCE(acknowledged_at, date_trunc('milliseconds', now()))
        WHERE id = $1 AND (owner_id = $2 OR $3) RETURNING ${alertColumns}`,
      [params.id, user.userId, user.role === 'admin'],
    );
    if (!rows[0]) throw new Problem('not-found', `No alert ${params.id}`);
    return { status: 200, body: toAlert(rows[0]) };
  },
});
