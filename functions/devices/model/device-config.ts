/**
 * A device's desired configuration and its reported state, whichever protocol carries them.
 *
 * The owner sets the desired configuration, a JSON object; each change takes the next version (1, 2, …) under
 * the device's row lock, so concurrent changes never share a version, and `If-Match` makes a change
 * conditional on the version the owner last saw. A device without one has version 0, `{}`. The device reports
 * its state with the configuration version it applied; the two are in sync when those versions are equal.
 * Changes go out as `device.config.updated` / `device.state.reported` through the outbox.
 *
 * Documents are bounded: at most CONFIG_MAX_BYTES of JSON, CONFIG_MAX_DEPTH levels, and no NUL character
 * anywhere (PostgreSQL's jsonb refuses \u0000).
 */
import { z } from 'zod';
import type { Deps } from '../../../shared/platform.ts';
import type { Caller } from '../../../shared/function.ts';
import type { Queryable } from '../../../shared/ports/relational.ts';
import { Problem, type FieldError } from '../../../shared/problem.ts';
import { enqueueEvents } from '../../../shared/outbox.ts';
import { exchanges } from '../../../shared/bus/topology.ts';
import { DesiredConfig, ReportedState } from '../../../shared/messages.ts';
import { deviceEvent } from './device-events.ts';
import { findVisibleDevice } from './devices.ts';
import type { DeviceIdentity } from './device-auth.ts';
import { signalChange } from './device-changes.ts';
import { touchDevice } from './presence.ts';

export const CONFIG_MAX_BYTES = 64 * 1024;
export const CONFIG_MAX_DEPTH = 32;
const maxVersion = 2 ** 31 - 1;

/** What breaks the bounds in a JSON value, or undefined. Depth first, iteratively, so deep nesting costs no stack. */
function boundsIssue(value: unknown): { message: string; tooLarge?: true } | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item === 'string') {
      if (item.includes('\0')) return { message: 'no string may contain a NUL character (\\u0000)' };
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth > CONFIG_MAX_DEPTH) return { message: `nests deeper than ${CONFIG_MAX_DEPTH} levels` };
    if (Array.isArray(item)) {
      for (const child of item) stack.push([child, depth + 1]);
      continue;
    }
    for (const [key, child] of Object.entries(item)) {
      if (key.includes('\0')) return { message: 'no key may contain a NUL character (\\u0000)' };
      stack.push([child, depth + 1]);
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  if (bytes > CONFIG_MAX_BYTES) return { message: `is ${bytes} bytes of JSON; at most ${CONFIG_MAX_BYTES}`, tooLarge: true };
  return undefined;
}

function checkBounds(value: unknown, ctx: z.RefinementCtx): void {
  const issue = boundsIssue(value);
  if (issue) ctx.addIssue({ code: 'custom', message: issue.message, ...(issue.tooLarge ? { params: { tooLarge: true } } : {}) });
}

const boundsNote = `at most ${CONFIG_MAX_BYTES} bytes of JSON, ${CONFIG_MAX_DEPTH} levels deep, no NUL characters`;

/** Any JSON value within the bounds (a command's result). */
export const BoundedJson = z.unknown().superRefine(checkBounds).describe(`Any JSON value, ${boundsNote}`);
/** A JSON object within the bounds: a desired configuration, a reported state, a command's params. */
export const DeviceConfigDocument = z.record(z.string(), z.unknown()).superRefine(checkBounds).describe(`A JSON object, ${boundsNote}`);

/** Parses with a schema; a bound exceeded in size is a 413, anything else wrong a 400, each naming the field. */
export function parseBounded<S extends z.ZodType>(schema: S, value: unknown, path: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors: FieldError[] = parsed.error.issues.map((i) => ({ path: [path, ...i.path.map(String)].join('.'), message: i.message }));
  const tooLarge = parsed.error.issues.some((i) => i.code === 'custom' && (i.params as { tooLarge?: boolean } | undefined)?.tooLarge);
  throw new Problem(tooLarge ? 'payload-too-large' : 'validation', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}

export const ConfigVersion = z.number().int().min(0).max(maxVersion);

/** The two sides of a device's configuration, as the API answers them and the events carry them (shared/messages.ts). */
export { DesiredConfig, ReportedState } from '../../../shared/messages.ts';

export const ConfigView = z.object({
  desired: DesiredConfig,
  reported: ReportedState.nullable(),
  inSync: z.boolean().describe('The device reported the desired version'),
});
export type ConfigView = z.output<typeof ConfigView>;

/** What a device reports: `{version?, state}`. */
export const StateReport = z.object({ version: ConfigVersion.optional(), state: DeviceConfigDocument });

/**
 * Versions named by an `If-Match` / `If-None-Match` header: `"3"`, `W/"3"` or `3`, or a comma-separated list
 * of them; `*` for any. Undefined when the header is absent; a 400 for anything else.
 */
export function versionsOfTags(header: string | undefined, name: string): number[] | '*' | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return '*';
  const versions = header.split(',').map((part) => /^\s*(?:W\/)?("?)(\d{1,10})\1\s*$/.exec(part)?.[2]);
  if (versions.some((v) => v === undefined || Number(v) > maxVersion)) {
    throw new Problem('validation', `${name} names configuration versions, like "3"`, { errors: [{ path: `headers.${name}`, message: 'expected a version such as "3"' }] });
  }
  return versions.map(Number);
}

/** The strong entity tag of a configuration version. */
export const versionTag = (version: number) => `"${version}"`;

interface ConfigRow {
  version: number;
  config: Record<string, unknown>;
  updated_at: Date;
}

const toDesired = (row: ConfigRow): DesiredConfig & { updatedAt: string } => ({
  version: row.version,
  config: row.config,
  updatedAt: row.updated_at.toISOString(),
});

export async function desiredConfigOf(db: Queryable, deviceId: string): Promise<DesiredConfig> {
  const { rows } = await db.query<ConfigRow>('SELECT version, config, updated_at FROM device_config WHERE device_id = $1', [deviceId]);
  return rows[0] ? toDesired(rows[0]) : { version: 0, config: {}, updatedAt: null };
}

/**
 * Sets the desired configuration of a device the caller may see (404 otherwise) as the next version; with
 * `ifMatchVersion`, only if that is still the current one (412 otherwise, with the current ETag).
 */
export async function setDesiredConfig(
  deps: Pick<Deps, 'db' | 'cache' | 'outbox' | 'log'>,
  caller: Pick<Caller, 'userId' | 'role'>,
  deviceId: string,
  config: Record<string, unknown>,
  ifMatchVersion?: number,
): Promise<DesiredConfig & { updatedAt: string }> {
  const document = parseBounded(DeviceConfigDocument, config, 'body.config');
  const saved = await deps.db.transaction(async (tx) => {
    // The device row lock orders concurrent changes, the first one (no config row yet) included.
    const device = await findVisibleDevice(tx, deviceId, caller, true);
    if (!device) throw new Problem('not-found', `No device ${deviceId}`);
    const current = await desiredConfigOf(tx, device.id);
    if (ifMatchVersion !== undefined && ifMatchVersion !== current.version) {
      throw new Problem('precondition-failed', `The configuration is at version ${current.version}, not ${ifMatchVersion}`, {
        headers: { etag: versionTag(current.version) },
        extensions: { currentVersion: current.version },
      });
    }
    const { rows } = await tx.query<ConfigRow>(
      `INSERT INTO device_config (device_id, version, config) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (device_id) DO UPDATE
         SET version = EXCLUDED.version, config = EXCLUDED.config, updated_at = date_trunc('milliseconds', now())
       RETURNING version, config, updated_at`,
      [device.id, current.version + 1, JSON.stringify(document)],
    );
    const desired = toDesired(rows[0]!);
    await enqueueEvents(tx, exchanges.events, [deviceEvent('device.config.updated', device.id, { ownerId: device.owner_id, ...desired })]);
    return desired;
  });
  deps.outbox.nudge();
  await signalChange(deps, 'config', deviceId);
  return saved;
}

/**
 * Stores what a device reports, `{version?, state}` (400 or 413 for anything else, and nothing is stored),
 * replacing its previous report.
 */
export async function reportState(deps: Pick<Deps, 'db' | 'cache' | 'bus' | 'outbox' | 'log'>, device: DeviceIdentity, body: unknown): Promise<ReportedState> {
  const report = parseBounded(StateReport, body, 'body');
  const reported = await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ version: number | null; state: Record<string, unknown>; reported_at: Date }>(
      `INSERT INTO device_state (device_id, version, state)
       SELECT id, $2, $3::jsonb FROM devices WHERE id = $1
       ON CONFLICT (device_id) DO UPDATE
         SET version = EXCLUDED.version, state = EXCLUDED.state, reported_at = date_trunc('milliseconds', now())
       RETURNING version, state, reported_at`,
      [device.id, report.version ?? null, JSON.stringify(report.state)],
    );
    const row = rows[0];
    if (!row) throw new Problem('not-found', `Device ${device.id} no longer exists`);
    const state: ReportedState = { version: row.version, state: row.state, reportedAt: row.reported_at.toISOString() };
    await enqueueEvents(tx, exchanges.events, [deviceEvent('device.state.reported', device.id, { ownerId: device.ownerId, ...state })]);
    return state;
  });
  deps.outbox.nudge();
  // Presence is a side note: failing to record it must not fail a report already stored.
  await touchDevice(deps, device).catch((error: unknown) => deps.log.warn({ err: error, deviceId: device.id }, 'presence update failed'));
  return reported;
}

/** The desired configuration, the last report and whether the device applied the desired version. */
export async function configView(db: Queryable, deviceId: string): Promise<ConfigView> {
  const desired = await desiredConfigOf(db, deviceId);
  const { rows } = await db.query<{ version: number | null; state: Record<string, unknown>; reported_at: Date }>(
    'SELECT version, state, reported_at FROM device_state WHERE device_id = $1',
    [deviceId],
  );
  const row = rows[0];
  const reported = row ? { version: row.version, state: row.state, reportedAt: row.reported_at.toISOString() } : null;
  return { desired, reported, inSync: reported !== null && reported.version === desired.version };
}
