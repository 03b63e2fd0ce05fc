/**
 * GET /devices: search the caller's devices (an admin's: everyone's) by text, type, status, online state
 * and tags, sorted, with keyset pagination: `nextCursor` continues exactly after the last item, so paging to
 * the end never repeats or skips a device even while others are added.
 *
 * `total`, by default, is counted exactly up to EXACT_UP_TO matches and estimated above (PostgreSQL's planner,
 * from the table's statistics; `totalIsEstimate: true`), never below what the page itself shows: an exact count(*)
 * of 100,000 matches was 85–186 ms of a search whose page took 0.1 ms. `count=exact` counts every match, for
 * whoever needs the number exact.
 */
import { z } from 'zod';
import { defineHttpFunction } from '../../shared/function.ts';
import { Problem } from '../../shared/problem.ts';
import type { Queryable } from '../../shared/ports/relational.ts';
import { RecentlyUsed } from '../../shared/recently-used.ts';
import { decodeCursor, encodeCursor } from '../../shared/cursor.ts';
import { isStorableText, storableTextMessage } from '../../shared/messages.ts';
import { Device, DeviceStatus, deviceColumns, toDevice, type DeviceRow } from './model/devices.ts';
import { lastSeenOf, onlineIds } from './model/presence.ts';

const sorts = {
  createdAt: { expr: 'created_at', cast: 'timestamptz', dir: 'ASC' },
  '-createdAt': { expr: 'created_at', cast: 'timestamptz', dir: 'DESC' },
  name: { expr: 'lower(name)', cast: 'text', dir: 'ASC' },
  '-name': { expr: 'lower(name)', cast: 'text', dir: 'DESC' },
} as const;
type Sort = keyof typeof sorts;

type SortName = [Sort, ...Sort[]];
const byTime = Object.keys(sorts).filter((s) => s.endsWith('createdAt')) as SortName;
const byName = Object.keys(sorts).filter((s) => s.endsWith('name')) as SortName;
/** The position after a page's last device: its sort key (a time, or a lower-cased name) and its id. */
const Cursor = z.union([
  z.object({ s: z.enum(byTime), k: z.iso.datetime(), id: z.uuid() }),
  z.object({ s: z.enum(byName), k: z.string().max(1000).refine(isStorableText), id: z.uuid() }),
]);

/** Matches counted exactly by default: reading this many index entries costs about as much as one page. */
export const EXACT_UP_TO = 1000;

const text = z.string().refine(isStorableText, storableTextMessage);
const commaList = z
  .union([text, z.array(text)])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean));

const Query = z.object({
  q: z.string().trim().min(1).max(100).refine(isStorableText, storableTextMessage).optional().describe('Text in the name or a tag, any letter case'),
  type: z.string().trim().min(1).max(100).refine(isStorableText, storableTextMessage).optional(),
  status: DeviceStatus.optional(),
  online: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  tag: commaList.optional().describe('Devices carrying every one of these tags (repeat or comma-separate)'),
  sort: z.enum(Object.keys(sorts) as [Sort, ...Sort[]]).default('-createdAt'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  // A name's cursor holds the name: 200 characters of UTF-8 in base64 take up to 1,100.
  cursor: z.string().max(2000).optional().describe('nextCursor of the previous page'),
  count: z
    .enum(['estimated', 'exact'])
    .default('estimated')
    .describe(`How \`total\` is counted: \`estimated\` (default) is exact up to ${EXACT_UP_TO} matches and the planner's estimate above (then \`totalIsEstimate\` is true); \`exact\` counts every match, at the cost of reading them all`),
});

function cursorAfter(sort: Sort, row: DeviceRow): string {
  const k = sort.endsWith('createdAt') ? row.createdAt : row.name.toLowerCase();
  return encodeCursor({ s: sort, k, id: row.id });
}

function positionOf(cursor: string, sort: Sort): z.output<typeof Cursor> {
  const position = decodeCursor(Cursor, cursor, 'query.cursor', 'not a cursor of this search (or the sort changed)');
  if (position.s !== sort) throw new Problem('validation', 'query.cursor: the sort changed since this cursor', { errors: [{ path: 'query.cursor', message: 'the sort changed since this cursor' }] });
  return position;
}

/**
 * How long this process remembers the planner's estimate for one filter. EXPLAIN answers from the statistics
 * ANALYZE (autovacuum) last gathered and the table's current size, which move over minutes, not seconds: asking
 * again for a list page refreshed or paged through (the same filter each time) bought the same number with another
 * round trip, half the database work of a search. Exact counts (up to EXACT_UP_TO, and `count=exact`) are never
 * remembered, nor searches by online state, whose filter holds the ids online at this moment.
 */
const ESTIMATE_MEMO_MS = 10_000;
const estimates = new RecentlyUsed<string, { rows: number; until: number }>(1_000);

/**
 * The planner's estimate of the rows a WHERE clause matches: `EXPLAIN (FORMAT JSON)` of the count's query, not
 * run. Its statistics are what ANALYZE (autovacuum) last saw; the caller never answers below what it has seen.
 */
async function plannedRows(db: Queryable, filter: string, params: unknown[], remember: boolean): Promise<number> {
  const key = remember ? `${filter}\n${JSON.stringify(params)}` : undefined;
  const known = key === undefined ? undefined : estimates.get(key);
  if (known && known.until > Date.now()) return known.rows;
  const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM devices ${filter}`, params);
  const raw = rows[0]?.['QUERY PLAN'];
  // node-postgres parses the json column; PGlite may hand it over as text.
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan?: { 'Plan Rows'?: number } }>;
  const planned = Math.round(plan[0]?.Plan?.['Plan Rows'] ?? 0);
  if (key !== undefined) estimates.set(key, { rows: planned, until: Date.now() + ESTIMATE_MEMO_MS });
  return planned;
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
  responses: {
    200: z.object({
      items: z.array(Device),
      nextCursor: z.string().nullable(),
      total: z.number().int().describe('Devices matching the search: exact, or an estimate when totalIsEstimate is true'),
      totalIsEstimate: z.boolean().describe(`true when total is the planner's estimate (count=estimated and more than ${EXACT_UP_TO} matches)`),
    }),
  },
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
      const cursor = positionOf(query.cursor, query.sort);
      const op = sort.dir === 'ASC' ? '>' : '<';
      page.push(`(${sort.expr}, id) ${op} (${add(cursor.k)}::${sort.cast}, ${add(cursor.id)}::uuid)`);
    }
    const pageFilter = page.length ? `WHERE ${page.join(' AND ')}` : '';
    const countAll = async (): Promise<{ total: number; estimated: boolean }> => {
      if (query.count === 'exact') {
        const { rows: counted } = await deps.db.query<{ total: string }>(`SELECT count(*) AS total FROM devices ${filter}`, countParams);
        return { total: Number(counted[0]?.total ?? 0), estimated: false };
      }
      // The planner first (no rows read): above the bound its estimate is the answer. A text or tag search reads
      // its matches through a bitmap of all of them, so even a bounded count of one costs what counting all does.
      const planned = await plannedRows(deps.db, filter, countParams, query.online === undefined);
      if (planned > EXACT_UP_TO) return { total: planned, estimated: true };
      // Few by the statistics: counted, up to one past the bound, in case the statistics are behind.
      const { rows: bounded } = await deps.db.query<{ total: string }>(
        `SELECT count(*) AS total FROM (SELECT 1 FROM devices ${filter} LIMIT ${EXACT_UP_TO + 1}) AS bounded`,
        countParams,
      );
      const seen = Number(bounded[0]?.total ?? 0);
      return seen <= EXACT_UP_TO ? { total: seen, estimated: false } : { total: Math.max(seen, planned), estimated: true };
    };
    const [{ rows }, counted] = await Promise.all([
      deps.db.query<DeviceRow>(
        `SELECT ${deviceColumns} FROM devices ${pageFilter} ORDER BY ${sort.expr} ${sort.dir}, id ${sort.dir} LIMIT ${add(query.limit + 1)}`,
        params,
      ),
      countAll(),
    ]);
    const more = rows.length > query.limit;
    const items = rows.slice(0, query.limit);
    // What the page itself proves: a first page with no next one holds every match; any page, at least its own.
    const total =
      counted.estimated && !query.cursor && !more
        ? { total: items.length, estimated: false }
        : { total: Math.max(counted.total, items.length + (more ? 1 : 0)), estimated: counted.estimated };
    const seen = await lastSeenOf(deps, items.map((r) => r.id));
    const windowMs = deps.config.DEVICE_ONLINE_SECONDS * 1000;
    return {
      status: 200,
      body: {
        items: items.map((r) => toDevice(r, seen.get(r.id) ?? null, windowMs)),
        nextCursor: more ? cursorAfter(query.sort, items[items.length - 1]!) : null,
        total: total.total,
        totalIsEstimate: total.estimated,
      },
    };
  },
});
