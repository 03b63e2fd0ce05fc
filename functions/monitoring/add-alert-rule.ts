/** POST /devices/{id}/rules: add an alert rule on one key of a device the caller owns. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { visibleDeviceIds } from '../devices/model/ownership.ts';
import { Rule, RuleFields, ruleColumns, toRule, type RuleRow } from './model/alerts.ts';

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
    if (!(await visibleDeviceIds(deps.db, [params.id], user)).has(params.id)) throw new Problem('not-found', `No device ${params.id}`);
    // The rule belongs to the device's owner, also when an admin adds it.
    const { rows } = await deps.db.query<RuleRow>(
      `INSERT INTO alert_rules (id, device_id, owner_id, key, op, value, low, high, for_seconds)
       SELECT $1, d.id, d.owner_id, $3, $4, $5, $6, $7, $8 FROM devices d WHERE d.id = $2
       RETURNING ${ruleColumns}`,
      [randomUUID(), params.id, body.key, body.op, body.value ?? null, body.low ?? null, body.high ?? null, body.forSeconds ?? 0],
    );
    if (!rows[0]) throw new Problem('not-found', `No device ${params.id}`);
    return { status: 201, body: toRule(rows[0]) };
  },
});
