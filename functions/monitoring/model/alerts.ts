/**
 * Threshold alerts: rules per device and key, and the alerts they open and clear.
 *
 * A rule's condition is evaluated on each ingested point of its key, in point-time order (`evaluateTelemetry`);
 * `forSeconds` is how long, measured on point timestamps, the condition must hold before an alert opens.
 * A `nodata` rule opens when no value of its key arrived for `forSeconds` (`sweepNoData`, run by the scheduled function of that name)
 * and clears when one arrives. The evaluation state lives on the rule row, locked while evaluating, so it
 * survives restarts and is shared by several ingest processes; points not newer than the last one evaluated
 * are skipped, so a redelivered message changes nothing. Opening and clearing go out as `alert.opened` /
 * `alert.cleared` events through the outbox, in the same transaction as the change.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../../shared/ports/relational.ts';
import type { Deps } from '../../../shared/platform.ts';
import { cloudEvent } from '../../../shared/events.ts';
import { enqueueEvents } from '../../../shared/outbox.ts';
import { eventTypes, exchanges, type AlertEventName } from '../../../shared/bus/topology.ts';
import { isStorableText, storableTextMessage, type Alert, type AlertData } from '../../../shared/messages.ts';

export const RuleOp = z.enum(['gt', 'lt', 'outside', 'nodata']);

/** The key a rule watches; text the store can hold (telemetry keys themselves are narrower still). */
export const RuleKey = z.string().min(1).max(128).refine(isStorableText, storableTextMessage);

const RuleFieldsShape = z.object({
  key: RuleKey,
  op: RuleOp,
  value: z.number().finite().optional(),
  low: z.number().finite().optional(),
  high: z.number().finite().optional(),
  forSeconds: z.number().int().min(0).max(86_400 * 30).optional(),
});
type RuleFieldsInput = z.output<typeof RuleFieldsShape>;

/** What makes a rule whole; returns the message of the first thing wrong, or undefined. */
export function ruleProblem(rule: RuleFieldsInput): string | undefined {
  switch (rule.op) {
    case 'gt':
    case 'lt':
      return rule.value === undefined ? `op ${rule.op} needs a value` : undefined;
    case 'outside':
      if (rule.low === undefined || rule.high === undefined) return 'op outside needs low and high';
      return rule.low < rule.high ? undefined : 'low must be below high';
    case 'nodata':
      if (rule.value !== undefined || rule.low !== undefined || rule.high !== undefined) return 'op nodata takes no value, low or high';
      return (rule.forSeconds ?? 0) >= 1 ? undefined : 'op nodata needs forSeconds of at least 1';
  }
}

export const RuleFields = RuleFieldsShape.superRefine((rule, ctx) => {
  const problem = ruleProblem(rule);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const Rule = z.object({
  id: z.uuid(),
  deviceId: z.uuid(),
  key: z.string(),
  op: RuleOp,
  value: z.number().nullable(),
  low: z.number().nullable(),
  high: z.number().nullable(),
  forSeconds: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Rule = z.output<typeof Rule>;

/** An alert, as the API answers it and `alert.opened` / `alert.cleared` carry it (shared/messages.ts). */
export { Alert } from '../../../shared/messages.ts';

export interface RuleRow {
  id: string;
  device_id: string;
  owner_id: string;
  key: string;
  op: z.output<typeof RuleOp>;
  value: number | null;
  low: number | null;
  high: number | null;
  for_seconds: number;
  pending_since: Date | null;
  last_ts: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface AlertRow {
  id: string;
  rule_id: string;
  device_id: string;
  owner_id: string;
  key: string;
  state: 'open' | 'cleared';
  value: number | null;
  opened_at: Date;
  cleared_at: Date | null;
  acknowledged_at: Date | null;
}

export const ruleColumns = 'id, device_id, owner_id, key, op, value, low, high, for_seconds, pending_since, last_ts, created_at, updated_at';
export const alertColumns = 'id, rule_id, device_id, owner_id, key, state, value, opened_at, cleared_at, acknowledged_at';

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export function toRule(row: RuleRow): Rule {
  return {
    id: row.id,
    deviceId: row.device_id,
    key: row.key,
    op: row.op,
    value: row.value,
    low: row.low,
    high: row.high,
    forSeconds: row.for_seconds,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

export function toAlert(row: AlertRow): Alert {
  return {
    id: row.id,
    ruleId: row.rule_id,
    deviceId: row.device_id,
    key: row.key,
    state: row.state,
    value: row.value,
    openedAt: iso(row.opened_at)!,
    clearedAt: iso(row.cleared_at),
    acknowledgedAt: iso(row.acknowledged_at),
  };
}

/** A rule of a device the caller may see (admins see all); undefined otherwise, like a missing one. */
export async function findVisibleRule(db: Queryable, deviceId: string, ruleId: string, caller: { userId: string; role: string }, lock = false): Promise<RuleRow | undefined> {
  const { rows } = await db.query<RuleRow>(
    `SELECT ${ruleColumns} FROM alert_rules WHERE id = $1 AND device_id = $2 AND (owner_id = $3 OR $4) ${lock ? 'FOR UPDATE' : ''}`,
    [ruleId, deviceId, caller.userId, caller.role === 'admin'],
  );
  return rows[0];
}

/** Whether a value breaks a threshold rule (the bounds its op needs are there: `ruleProblem` refused rules without them). */
export function conditionHolds(rule: Pick<RuleRow, 'op' | 'value' | 'low' | 'high'>, value: number): boolean {
  switch (rule.op) {
    case 'gt':
      return value > rule.value!;
    case 'lt':
      return value < rule.value!;
    case 'outside':
      return value < rule.low! || value > rule.high!;
    case 'nodata':
      return false;
  }
}

function alertEvent(name: AlertEventName, row: AlertRow) {
  return {
    routingKey: name,
    event: cloudEvent<AlertData>({ type: eventTypes.alert(name), source: '/alerts', subject: row.device_id, data: { deviceId: row.device_id, ownerId: row.owner_id, alert: toAlert(row) } }),
  };
}

async function openAlert(tx: Queryable, rule: RuleRow, at: Date, value: number | null): Promise<AlertRow> {
  const { rows } = await tx.query<AlertRow>(
    `INSERT INTO alerts (id, rule_id, device_id, owner_id, key, state, value, opened_at)
     VALUES ($1, $2, $3, $4, $5, 'open', $6, $7) RETURNING ${alertColumns}`,
    [randomUUID(), rule.id, rule.device_id, rule.owner_id, rule.key, value, at],
  );
  const row = rows[0]!;
  await enqueueEvents(tx, exchanges.events, [alertEvent('alert.opened', row)]);
  return row;
}

async function clearAlert(tx: Queryable, alertId: string, at: Date): Promise<void> {
  const { rows } = await tx.query<AlertRow>(
    `UPDATE alerts SET state = 'cleared', cleared_at = GREATEST($2::timestamptz, opened_at) WHERE id = $1 AND state = 'open' RETURNING ${alertColumns}`,
    [alertId, at],
  );
  if (rows[0]) await enqueueEvents(tx, exchanges.events, [alertEvent('alert.cleared', rows[0])]);
}

async function openAlertOf(tx: Queryable, ruleId: string): Promise<string | undefined> {
  const { rows } = await tx.query<{ id: string }>(`SELECT id FROM alerts WHERE rule_id = $1 AND state = 'open'`, [ruleId]);
  return rows[0]?.id;
}

export interface EvaluatedPoint {
  ts: number;
  values: Record<string, number | boolean | string>;
}

/**
 * Runs the device's rules on the keys present in these points; returns how many alerts opened or cleared.
 * Called after the points are stored. Only numeric values count for thresholds; any value counts as data.
 */
export async function evaluateTelemetry(deps: Deps, deviceId: string, points: readonly EvaluatedPoint[]): Promise<number> {
  const keys = [...new Set(points.flatMap((p) => Object.keys(p.values)))];
  if (keys.length === 0) return 0;
  const sorted = [...points].sort((a, b) => a.ts - b.ts);
  const changes = await deps.db.transaction(async (tx) => {
    // Row locks serialise evaluation of a rule across ingest processes; id order avoids deadlocks.
    const { rows: rules } = await tx.query<RuleRow>(
      `SELECT ${ruleColumns} FROM alert_rules WHERE device_id = $1 AND key = ANY($2::text[]) ORDER BY id FOR UPDATE`,
      [deviceId, keys],
    );
    let changed = 0;
    for (const rule of rules) {
      const lastTs = rule.last_ts ? new Date(rule.last_ts).getTime() : -Infinity;
      const fresh = sorted.filter((p) => p.ts > lastTs && p.values[rule.key] !== undefined);
      if (fresh.length === 0) continue;
      let open = await openAlertOf(tx, rule.id);
      let pendingSince = rule.pending_since ? new Date(rule.pending_since).getTime() : null;
      for (const point of fresh) {
        const value = point.values[rule.key];
        if (rule.op === 'nodata') {
          if (open) {
            await clearAlert(tx, open, new Date(point.ts));
            open = undefined;
            changed++;
          }
          continue;
        }
        if (typeof value !== 'number') continue;
        if (conditionHolds(rule, value)) {
          pendingSince ??= point.ts;
          if (!open && point.ts - pendingSince >= rule.for_seconds * 1000) {
            open = (await openAlert(tx, rule, new Date(point.ts), value)).id;
            changed++;
          }
        } else {
          pendingSince = null;
          if (open) {
            await clearAlert(tx, open, new Date(point.ts));
            open = undefined;
            changed++;
          }
        }
      }
      await tx.query('UPDATE alert_rules SET pending_since = $2, last_ts = $3 WHERE id = $1', [
        rule.id,
        pendingSince === null ? null : new Date(pendingSince),
        new Date(fresh[fresh.length - 1]!.ts),
      ]);
    }
    return changed;
  });
  if (changes > 0) deps.outbox.nudge();
  return changes;
}

/**
 * One pass of the no-data sweep (functions/monitoring/sweep-no-data.ts): opens an alert for every `nodata` rule whose key has had no value for its
 * window (by the newest stored point of the key; a rule with no data at all counts from its creation).
 * Returns how many alerts opened. Safe to run in several processes at once: each rule is locked, skipped
 * if another process holds it, and a rule with an open alert is left alone.
 */
export async function sweepNoData(deps: Deps, now = Date.now()): Promise<number> {
  // One pass reads every quiet-looking nodata rule and the latest value of its key: fine for thousands of
  // rules every few seconds; beyond that the sweep would page and spread over processes.
  const { rows: candidates } = await deps.db.query<RuleRow>(
    `SELECT ${ruleColumns} FROM alert_rules r
      WHERE op = 'nodata' AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = r.id AND a.state = 'open')`,
  );
  let opened = 0;
  for (const candidate of candidates) {
    const latest = await deps.telemetry.latest(candidate.device_id, [candidate.key]);
    const lastData = Math.max(latest[0]?.ts ?? -Infinity, new Date(candidate.created_at).getTime(), candidate.last_ts ? new Date(candidate.last_ts).getTime() : -Infinity);
    if (now - lastData < candidate.for_seconds * 1000) continue;
    const didOpen = await deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<RuleRow>(`SELECT ${ruleColumns} FROM alert_rules WHERE id = $1 FOR UPDATE SKIP LOCKED`, [candidate.id]);
      const rule = rows[0];
      if (!rule || (await openAlertOf(tx, rule.id))) return false;
      // Data may have been evaluated since the read above; the rule's own last point decides then.
      if (rule.last_ts && now - new Date(rule.last_ts).getTime() < rule.for_seconds * 1000) return false;
      await openAlert(tx, rule, new Date(now), null);
      return true;
    });
    if (didOpen) opened++;
  }
  if (opened > 0) deps.outbox.nudge();
  return opened;
}

/**
 * Which of these devices have alert rules at all: one query for a whole ingest batch, so the devices without
 * rules (most of a fleet) cost no transaction each. A rule made while the batch is being stored may miss it.
 */
export async function devicesWithRules(deps: Pick<Deps, 'db'>, deviceIds: readonly string[]): Promise<Set<string>> {
  if (deviceIds.length === 0) return new Set();
  const { rows } = await deps.db.query<{ device_id: string }>('SELECT DISTINCT device_id FROM alert_rules WHERE device_id = ANY($1::uuid[])', [deviceIds]);
  return new Set(rows.map((r) => r.device_id));
}
