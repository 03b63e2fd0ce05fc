/** POST /devices/{id}/rules: add an alert rule on one key of a device the caller owns. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Rule, RuleFields, ruleColumns, toRule, type RuleRow } from './model/alerts.ts';

/** PostgreSQL's SQLSTATE for a foreign key violation. */
const foreignKeyViolation = '23503';

export default defineHttpFunction({
  name: 'addAlertRule',
  domain: 'monitoring',
  method: 'POST',
  path: '/devices/{id}/rules',
  auth: 'user',
  summary: 'Add an alert rule (gt, lt, outside or nodata) on a key of a device',
  params: z.object({ id: z.uuid() }),
  body: RuleFields,
  responses: { 201: Rule },
  problems: ['not-found'],
  async handler({ params, body, user, deps }) {
    const missing = () => new Problem('not-found', `No device ${params.id}`);
    // The rule belongs to the device's owner, also when an admin adds it.
    const ownerId = (await deps.directory.canSee(user, params.id)) ? await deps.directory.ownerOf(params.id) : undefined;
    if (!ownerId) throw missing();
    const { rows } = await deps.db
      .query<RuleRow>(
        `INSERT INTO alert_rules (id, device_id, owner_id, key, op, value, low, high, for_seconds)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING ${ruleColumns}`,
        [randomUUID(), params.id, ownerId, body.key, body.op, body.value ?? null, body.low ?? null, body.high ?? null, body.forSeconds ?? 0],
      )
      .catch((error: unknown) => {
        // The rule's foreign key: the device was deleted since it was looked up.
        throw (error as { code?: unknown }).code === foreignKeyViolation ? missing() : error;
      });
    return { status: 201, body: toRule(rows[0]!) };
  },
});
