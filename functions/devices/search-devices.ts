/**
 * GET /devices: search the caller's devices (an admin's: everyone's) by text, type, status, online state
 * and tags, sorted, with keyset pagination: `nextCursor` continues exactly after the last item, so paging to
 * the end never repeats or skips a device even while others are added.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import { Device, DeviceStatus, deviceColumns, toDevice, type DeviceRow } from './model/devices.ts';
import { lastSeenOf, onlineIds } from './model/presence.ts';

const sorts = {
  createdAt: { expr: 'created_at', cast: 'timestamptz', dir: 'ASC' },
  '-createdAt': { expr: 'created_at', cast: 'timestamptz', dir: 'DESC' },
  name: { expr: 'lower(name)', cast: 'text', dir: 'ASC' },
  '-name': { expr: 'lower(name)', cast: 'text', dir: 'DESC' },
} as const;
type Sort = keyof typeof sorts;

const Cursor = z.object({ s: z.enum(Object.keys(sorts) as [Sort, ...Sort[]]), k: z.string(), id: z.uuid() });

const commaList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean));

const Query = z.object({
  q: z.string().trim().min(1).max(100).optional().describe('Text in the name or a tag, any letter case'),
  type: z.string().trim().min(1).max(100).optional(),
  status: DeviceStatus.optional(),
  online: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  tag: commaList.optional().describe('Devices carrying every one of these tags (repeat or comma-separate)'),
  sort: z.enum(Object.keys(sorts) as [Sort, ...Sort[]]).default('-createdAt'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(500).optional().describe('nextCursor of the previous page'),
});

function encodeCursor(sort: Sort, row: DeviceRow): string {
  const k = sort.endsWith('createdAt') ? row.created_at.toISOString() : row.name.toLowerCase();
  return Buffer.from(JSON.stringify({ s: sort, k, id: row.id })).toString('base64url');
}

function decodeCursor(cursor: string, sort: Sort): z.output<typeof Cursor> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = Cursor.safeParse(parsed);
  if (!result.success || result.data.s !== sort) {
    throw new Problem('validation', 'The cursor is not one this search gave (or the sort changed)', { errors: [{ path: 'query.cursor', message: 'not a cursor of this search' }] });
  }
  return result.data;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export default defineHttpFunction({
  name: 'searchDevices',
  domain: 'devices',
  method: 'GET',
  path: '/devices',
  auth: 'user',
  summary: 'Search devices',
  query: Query,
  responses: { 200: z.object({ items: z.array(Device), nextCursor: z.string().nullable(), total: z.number().int() }) },
  async handler({ query, user, deps }) {
    const params: unknown[] = [];
    const add = (value: unknown) => `$${params.push(value)}`;
    const where: string[] = [];
    if (user.role !== 'admin') where.push(`owner_id = ${add(user.userId)}`);
    if (query.q) where.push(`search LIKE ${add(`%${escapeLike(query.q.toLowerCase())}%`)}`);
    if (query.type) where.push(`type = ${add(query.type)}`);
    if (query.status) where.push(`status = ${add(query.status)}`);
    if (query.tag?.length) where.push(`tags @> ${add(query.tag)}::text[]`);
    if (query.online !== undefined) {
      const ids = await onlineIds(deps);
      where.push(`${query.online ? '' : 'NOT '}(id = ANY(${add(ids)}::uuid[]))`);
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const countParams = [...params];

    const sort = sorts[query.sort];
    const page = [...where];
    if (query.cursor) {
      const cursor = decodeCursor(query.cursor, query.sort);
      const op = sort.dir === 'ASC' ? '>' : '<';
      page.push(`(${sort.expr}, id) ${op} (${add(cursor.k)}::${sort.cast}, ${add(cursor.id)}::uuid)`);
    }
    const pageFilter = page.length ? `WHERE ${page.join(' AND ')}` : '';
    const [{ rows }, counted] = await Promise.all([
      deps.db.query<DeviceRow>(
        `SELECT ${deviceColumns} FROM devices ${pageFilter} ORDER BY ${sort.expr} ${sort.dir}, id ${sort.dir} LIMIT ${add(query.limit + 1)}`,
        params,
      ),
      deps.db.query<{ total: string }>(`SELECT count(*) AS total FROM devices ${filter}`, countParams),
    ]);
    const more = rows.length > query.limit;
    const items = rows.slice(0, query.limit);
    const seen = await lastSeenOf(deps, items.map((r) => r.id));
    const windowMs = deps.config.DEVICE_ONLINE_SECONDS * 1000;
    return {
      status: 200,
      body: {
        items: items.map((r) => toDevice(r, seen.get(r.id) ?? null, windowMs)),
        nextCursor: more ? encodeCursor(query.sort, items[items.length - 1]!) : null,
        total: Number(counted.rows[0]?.total ?? 0),
      },
    };
  },
});
