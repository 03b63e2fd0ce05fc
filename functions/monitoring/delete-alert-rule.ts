/** DELETE /devices/{id}/rules/{ruleId}: remove a rule and its alerts. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';

export default defineHttpFunction({
  name: 'deleteAlertRule',
  domain: 'monitoring',
  method: 'DELETE',
  path: '/devices/{id}/rules/{ruleId}',
  auth: 'user',
  summary: 'Delete an alert rule (its alerts go with it)',
  params: z.object({ id: z.uuid(), ruleId: z.uuid() }),
  responses: { 204: null },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    const { rowCount } = await deps.db.query('DELETE FROM alert_rules WHERE id = $1 AND device_id = $2 AND (owner_id = $3 OR $4)', [
      params.ruleId,
      params.id,
      user.userId,
      user.role === 'admin',
    ]);
    if (rowCount === 0) throw new Problem('not-found', `No rule ${params.ruleId}`);
    return { status: 204 };
  },
});
