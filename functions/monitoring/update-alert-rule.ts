/**
 * PATCH /devices/{id}/rules/{ruleId}: change a rule. Its evaluation starts afresh (the time the condition
 * has held no longer means anything under a new threshold); an alert it has open stays until it clears.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Rule, RuleKey, RuleOp, findVisibleRule, ruleColumns, ruleProblem, toRule, type RuleRow } from './model/alerts.ts';

// null removes a bound that the new op no longer takes (e.g. gt → nodata drops value).
const Body = z
  .object({
    key: RuleKey,
    op: RuleOp,
    value: z.number().finite().nullable(),
    low: z.number().finite().nullable(),
    high: z.number().finite().nullable(),
    forSeconds: z.number().int().min(0).max(86_400 * 30),
  })
  .partial()
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change');

export default defineHttpFunction({
  name: 'updateAlertRule',
  domain: 'monitoring',
  method: 'PATCH',
  path: '/devices/{id}/rules/{ruleId}',
  auth: 'user',
  summary: 'Change an alert rule',
  params: z.object({ id: z.uuid(), ruleId: z.uuid() }),
  body: Body,
  responses: { 200: Rule },
  problems: ['not-found'],
  async handler({ params, body, user, deps }) {
    const updated = await deps.db.transaction(async (tx) => {
      const current = await findVisibleRule(tx, params.id, params.ruleId, user, true);
      if (!current) return undefined;
      const pick = (field: 'value' | 'low' | 'high') => (body[field] === undefined ? current[field] : body[field]);
      const next = {
        key: body.key ?? current.key,
        op: body.op ?? current.op,
        value: pick('value') ?? undefined,
        low: pick('low') ?? undefined,
        high: pick('high') ?? undefined,
        forSeconds: body.forSeconds ?? current.for_seconds,
      };
      const problem = ruleProblem(next);
      if (problem) throw new Problem('validation', problem, { errors: [{ path: 'body', message: problem }] });
      const { rows } = await tx.query<RuleRow>(
        `UPDATE alert_rules SET key = $2, op = $3, value = $4, low = $5, high = $6, for_seconds = $7, pending_since = NULL,
                updated_at = date_trunc('milliseconds', now())
          WHERE id = $1 RETURNING ${ruleColumns}`,
        [current.id, next.key, next.op, next.value ?? null, next.low ?? null, next.high ?? null, next.forSeconds],
      );
      return rows[0];
    });
    if (!updated) throw new Problem('not-found', `No rule ${params.ruleId}`);
    return { status: 200, body: toRule(updated) };
  },
});
