/**
 * The devices domain's devices: their public shape, their table and their tokens.
 *
 * A device token is shown once, when the device is made or its token rotated; only its SHA-256 and its
 * generation are stored (see device-tokens.ts for how tokens are derived), and it is looked up by that hash
 * when the device sends telemetry.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Queryable } from '../../../shared/ports/relational.ts';
import { deviceToken } from './device-tokens.ts';
import { isStorableText, storableTextMessage } from '../../../shared/messages.ts';

/** Device text (names, types, tags) that the store can hold: no NUL, no unpaired surrogate. */
const DeviceText = (max: number) => z.string().trim().min(1).max(max).refine(isStorableText, storableTextMessage);

export const METADATA_MAX_BYTES = 16 * 1024;
export const METADATA_MAX_DEPTH = 16;

/**
 * What breaks the metadata bounds, or undefined: the approach of device-config.ts's documents (iterative,
 * so nesting thousands deep costs no stack, and PostgreSQL's jsonb never sees what it would refuse).
 */
function metadataIssue(value: Record<string, unknown>): string | undefined {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item === 'string') {
      if (!isStorableText(item)) return `no string ${storableTextMessage}`;
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth > METADATA_MAX_DEPTH) return `nests deeper than ${METADATA_MAX_DEPTH} levels`;
    for (const [key, child] of Object.entries(item)) {
      if (!isStorableText(key)) return `no key ${storableTextMessage}`;
      stack.push([child, depth + 1]);
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  return bytes > METADATA_MAX_BYTES ? `is ${bytes} bytes of JSON; at most ${METADATA_MAX_BYTES}` : undefined;
}

export const Metadata = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const issue = metadataIssue(value);
    if (issue) ctx.addIssue({ code: 'custom', message: issue });
  })
  .describe(`A JSON object, at most ${METADATA_MAX_BYTES} bytes, ${METADATA_MAX_DEPTH} levels deep, no NUL characters`);

export const Tag = DeviceText(64);
export const Location = z.object({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  alt: z.number().optional(),
});
export const DeviceStatus = z.enum(['active', 'disabled']);

/** What a user may set on a device. */
export const DeviceFields = z.object({
  name: DeviceText(200),
  type: DeviceText(100),
  tags: z.array(Tag).max(50).optional(),
  metadata: Metadata.optional(),
  location: Location.nullable().optional(),
});
export type DeviceFields = z.output<typeof DeviceFields>;

export const Device = z.object({
  id: z.uuid(),
  ownerId: z.uuid(),
  name: z.string(),
  type: z.string(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  location: Location.nullable(),
  status: DeviceStatus,
  online: z.boolean(),
  lastSeenAt: z.iso.datetime().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Device = z.output<typeof Device>;

export interface DeviceRow {
  id: string;
  owner_id: string;
  name: string;
  type: string;
  tags: string[];
  metadata: Record<string, unknown>;
  location: z.output<typeof Location> | null;
  status: 'active' | 'disabled';
  token_hash: string;
  token_generation: number | null;
  /** ISO 8601 in UTC, as the API shows it (see deviceColumns). */
  createdAt: string;
  updatedAt: string;
}

/**
 * The timestamps come formatted by PostgreSQL, as the API shows them: parsing each into a Date (node-postgres)
 * and formatting it again (toISOString) was a tenth of the gateway's CPU in a device search of 20 rows. Both
 * columns hold whole milliseconds (date_trunc at every write), so nothing is cut. Aliased apart from the
 * columns, so an ORDER BY created_at still means the indexed column, not this text.
 */
const isoUtc = (column: string, as: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "${as}"`;
export const deviceColumns = `id, owner_id, name, type, tags, metadata, location, status, token_hash, token_generation, ${isoUtc('created_at', 'createdAt')}, ${isoUtc('updated_at', 'updatedAt')}`;

export function searchText(name: string, tags: readonly string[]): string {
  return [name, ...tags].join(' ').toLowerCase();
}

/** The public view; presence (online, last seen) comes from the cache, not the row. */
export function toDevice(row: DeviceRow, lastSeen: number | null, onlineWindowMs: number, now = Date.now()): Device {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    type: row.type,
    tags: row.tags,
    metadata: row.metadata,
    location: row.location,
    status: row.status,
    online: lastSeen !== null && now - lastSeen <= onlineWindowMs,
    lastSeenAt: lastSeen === null ? null : new Date(lastSeen).toISOString(),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Inserts devices in one statement; returns the rows and each device's token, in input order. */
export async function insertDevices(tx: Queryable, config: Parameters<typeof deviceToken>[0], ownerId: string, devices: readonly DeviceFields[]) {
  const prepared = devices.map((d) => {
    const id = randomUUID();
    const { token, hash } = deviceToken(config, id, 1);
    const tags = [...new Set(d.tags ?? [])];
    return {
      token,
      record: {
        id,
        owner_id: ownerId,
        name: d.name,
        type: d.type,
        tags,
        metadata: d.metadata ?? {},
        location: d.location ?? null,
        token_hash: hash,
        token_generation: 1,
        search: searchText(d.name, tags),
        ord: 0,
      },
    };
  });
  prepared.forEach((p, i) => (p.record.ord = i));
  const { rows } = await tx.query<DeviceRow & { ord: number }>(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb)
         AS d(id uuid, owner_id uuid, name text, type text, tags text[], metadata jsonb, location jsonb, token_hash text, token_generation int, search text, ord int)
     )
     INSERT INTO devices (id, owner_id, name, type, tags, metadata, location, token_hash, token_generation, search)
     SELECT id, owner_id, name, type, coalesce(tags, '{}'), coalesce(metadata, '{}'), location, token_hash, token_generation, search FROM input ORDER BY ord
     RETURNING ${deviceColumns}`,
    [JSON.stringify(prepared.map((p) => p.record))],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return prepared.map((p) => ({ row: byId.get(p.record.id)!, token: p.token }));
}

/** The device if the caller may see it: its owner, or an admin. */
export async function findVisibleDevice(db: Queryable, id: string, caller: { userId: string; role: string }, lock = false): Promise<DeviceRow | undefined> {
  const { rows } = await db.query<DeviceRow>(
    `SELECT ${deviceColumns} FROM devices WHERE id = $1 AND (owner_id = $2 OR $3) ${lock ? 'FOR UPDATE' : ''}`,
    [id, caller.userId, caller.role === 'admin'],
  );
  return rows[0];
}
