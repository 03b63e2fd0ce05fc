/** GET /devices/{id}/rules: the alert rules of a device the caller owns, oldest first. */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Rule, ruleColumns, toRule, type RuleRow } from './model/alerts.ts';

export default defineHttpFunction({
  name: 'listAlertRules',
  domain: 'monitoring',
  method: 'GET',
  path: '/devices/{id}/rules',
  auth: 'user',
  summary: 'List the alert rules of a device',
  params: z.object({ id: z.uuid() }),
  responses: { 200: z.object({ items: z.array(Rule) }) },
  problems: ['not-found'],
  async handler({ params, user, deps }) {
    if (!(await deps.directory.canSee(user, params.id))) throw new Problem('not-found', `No device ${params.id}`);
    const { rows } = await deps.db.query<RuleRow>(`SELECT ${ruleColumns} FROM alert_rules WHERE device_id = $1 ORDER BY created_at, id`, [params.id]);
    return { status: 200, body: { items: rows.map(toRule) } };
  },
});
