/**
 * The telemetry store port over PostgreSQL, through the relational port, so it runs on a server (`pg`) and on
 * PGlite alike. Tables come from migrations 0003 and 0007: points in `telemetry`, partitioned by UTC day, and
 * rollups per minute and per hour in `telemetry_rollup_1m` / `_1h`, partitioned by month.
 *
 *   const telemetry = createPostgresTelemetryStore(db);   // db: Relational, already migrated
 *   await telemetry.prepare({ retentionDays: 30, rollupRetentionDays: 400 });
 *   await telemetry.write([{ messageId, deviceId, points: [{ ts: Date.now(), values: { temp: 21.5 } }] }]);
 *
 * Rollups are kept in the same transaction as the points. New points are merged into their buckets (counts
 * and sums added, min/max widened) in the statement that inserts them; a point written again (last write wins)
 * has its buckets rebuilt from the points, since an old minimum cannot be taken back out of a min. Concurrent
 * writers stay exact without a lock of their own: a merge is one atomic upsert of the bucket's row, and a rebuild
 * first claims and locks the rows it rebuilds (in statements of their own) and only then reads the points, so it
 * sees every merge committed before, and every later merge waits for it and adds to what it wrote. Writers of
 * the same buckets take their rows in one order (devices, keys, buckets; minutes before hours); where they still
 * meet in opposite orders across statements, PostgreSQL rolls one back and it writes again.
 *
 * Partitions: a write makes the partitions of the days (and months) it touches, once per process; the hourly
 * retention pass drops whole days and makes the next days' ahead of time, so writers rarely have to.
 *
 * Device ids are uuids (the devices domain's ids); keys sort bytewise (`COLLATE "C"`), as MongoDB sorts them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queryable, Relational } from '../../ports/relational.ts';
import type {
  Aggregation,
  Bucket,
  Retention,
  StoredValue,
  TelemetryMessage,
  TelemetryStore,
  TelemetryValue,
} from '../../ports/telemetry-store.ts';

/** Rows per INSERT: large enough to amortise the round trip, small enough to keep the parameter arrays modest. */
const INSERT_CHUNK = 20_000;
/** Rows per DELETE, so device removal never holds one huge transaction. */
const DELETE_BATCH = 50_000;
/** Days of partitions the retention pass makes ahead of today, so no writer makes one at midnight. */
const DAYS_AHEAD = 2;
/** Tries of one write: a deadlock or a partition dropped under it rolls it back whole, and it starts again. */
const WRITE_ATTEMPTS = 5;
/** How long the retention pass waits for a lock before giving up until the next pass. */
const RETENTION_LOCK_TIMEOUT = '5s';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Exact for whole milliseconds: the interval product is computed in integer microseconds. */
const fromMs = (param: string): string => `timestamptz 'epoch' + ${param} * interval '1 millisecond'`;

interface ValueRow {
  key: string;
  ts: Date;
  num: number | null;
  bool: boolean | null;
  str: string | null;
}

/** How one rollup level's columns come from its source rows: the points, or the finer level's buckets. */
interface RollupSource {
  table: string;
  at: string;
  count: string;
  numCount: string;
  sum: string;
  min: string;
  max: string;
}

interface RollupLevel {
  table: string;
  widthMs: number;
  width: string;
  from: RollupSource;
}

/** Counts that come out 0, not null, over no rows: a rebuild reads each bucket's source rows, which may be none. */
const pointsSource: RollupSource = {
  table: 'telemetry',
  at: 'ts',
  count: 'count(ts)::int',
  numCount: 'count(num)::int',
  sum: 'sum(num)',
  min: 'min(num)',
  max: 'max(num)',
};

/** Buckets of a level summed up: what a coarser level, or a query, makes of them. */
const bucketsSource = (table: string): RollupSource => ({
  table,
  at: 'bucket',
  count: 'coalesce(sum(count), 0)::int',
  numCount: 'coalesce(sum(num_count), 0)::int',
  sum: 'sum(sum)',
  min: 'min(min)',
  max: 'max(max)',
});

const minutes: RollupLevel = { table: 'telemetry_rollup_1m', widthMs: MINUTE, width: "interval '1 minute'", from: pointsSource };
const hours: RollupLevel = { table: 'telemetry_rollup_1h', widthMs: HOUR, width: "interval '1 hour'", from: bucketsSource(minutes.table) };
/** Coarsest first: a query uses the coarsest level whose width divides its interval. */
const levels = [hours, minutes] as const;
/** The rollup tables, for whatever handles them beside the store (the bench's seed and clean-up). */
export const rollupTables: readonly string[] = levels.map((level) => level.table);

/** Each aggregation over a level's buckets; null where the buckets hold no number, as over the points. */
const rollupAggregates: Record<Aggregation, string> = {
  avg: 'sum(sum) / nullif(sum(num_count), 0)',
  min: 'min(min)',
  max: 'max(max)',
  sum: 'sum(sum)',
  count: 'sum(count)::float8',
};

const pointAggregates: Record<Aggregation, string> = {
  avg: 'avg(num)',
  min: 'min(num)',
  max: 'max(num)',
  sum: 'sum(num)',
  count: 'count(*)::float8',
};

export function createPostgresTelemetryStore(db: Relational): TelemetryStore {
  let retention: Retention | undefined;
  const partitions = createPartitionCache(db);

  /** Points dated before this go to the rollups only: their day is past retention (or about to be dropped). */
  const pointsHorizon = (now: number): number => (retention ? floorTo(now - retention.retentionDays * DAY, DAY) : -Infinity);
  /** Points dated before this are not kept at all: the rollups' month is past their retention. */
  const rollupsHorizon = (now: number): number => (retention ? monthStart(now - retention.rollupRetentionDays * DAY) : -Infinity);

  async function writeOnce(messages: Map<string, TelemetryMessage>, repeatedInCall: number) {
    const now = Date.now();
    const [keepPoints, keepRollups] = [pointsHorizon(now), rollupsHorizon(now)];
    // Both horizons fall on whole UTC days, so a point's day says which of them it is past; months are found from
    // the days (a few per call), not from every point.
    const touched = new Set<number>();
    for (const message of messages.values()) for (const { ts } of message.points) touched.add(floorTo(ts, DAY));
    const days = [...touched].filter((day) => day >= keepPoints);
    const months = new Set([...touched].filter((day) => day >= keepRollups).map(monthStart));
    // Before the transaction: making a partition is DDL, whose locks should not wait on (or hold up) the write.
    await partitions.ensure([...days.map((start) => ({ table: 'telemetry', start })), ...[...months].flatMap((start) => levels.map(({ table }) => ({ table, start })))]);

    return db.transaction(async (tx) => {
      // Sorted (as the points below), so concurrent writers take locks in the same order.
      const ids = [...messages.keys()].sort();
      const { rows } = await tx.query<{ message_id: string }>(
        `INSERT INTO telemetry_messages (message_id, device_id)
         SELECT * FROM unnest($1::text[], $2::uuid[])
         ON CONFLICT DO NOTHING RETURNING message_id`,
        [ids, ids.map((id) => messages.get(id)!.deviceId)],
      );
      const fresh = new Set(rows.map((row) => row.message_id));

      // One row per (device, key, ts): the later value in the call is the one that must win, and neither the
      // INSERT nor the UPDATE below may meet a row twice in one statement.
      const points = new Map<string, PointRow>();
      for (const message of messages.values()) {
        if (!fresh.has(message.messageId)) continue;
        for (const point of message.points) {
          if (point.ts < keepRollups) continue;
          for (const [key, value] of Object.entries(point.values)) {
            points.set(`${message.deviceId}\u0000${key}\u0000${point.ts}`, pointRow(message.deviceId, key, point.ts, value));
          }
        }
      }
      const sorted = [...points.values()].sort(comparePoints);
      const stored = sorted.filter((row) => row.ts >= keepPoints);
      const rolledOnly = sorted.filter((row) => row.ts < keepPoints);
      const replacing: PointRow[] = [];
      for (let start = 0; start < stored.length; start += INSERT_CHUNK) {
        replacing.push(...(await insertPoints(tx, stored.slice(start, start + INSERT_CHUNK))));
      }
      for (let start = 0; start < rolledOnly.length; start += INSERT_CHUNK) {
        await mergeIntoRollups(tx, rolledOnly.slice(start, start + INSERT_CHUNK));
      }
      await replacePoints(tx, replacing);
      return { written: fresh.size, duplicates: messages.size - fresh.size + repeatedInCall };
    });
  }

  return {
    kind: 'postgres',

    async prepare(options) {
      // The schema is the migrations', applied when the platform starts: nothing here reaches the database, so
      // a function process that never touches telemetry never opens a connection for it.
      retention = { ...options };
    },

    async write(messages) {
      const unique = new Map<string, TelemetryMessage>();
      for (const message of messages) if (!unique.has(message.messageId)) unique.set(message.messageId, message);
      const repeatedInCall = messages.length - unique.size;
      if (unique.size === 0) return { written: 0, duplicates: 0 };
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await writeOnce(unique, repeatedInCall);
        } catch (error) {
          if (attempt >= WRITE_ATTEMPTS) throw error;
          if (isMissingPartition(error)) {
            // A partition this process made (or found) was dropped since, by retention or by hand: find out again.
            partitions.forget();
          } else if (isDeadlock(error)) {
            // Writers of the same buckets met in opposite orders (see the module comment); PostgreSQL rolled this
            // one back whole, so it can start again (after a pause that differs between them).
            await sleep(Math.random() * 20 * attempt);
          } else {
            throw error;
          }
        }
      }
    },

    async raw(query) {
      if (query.limit <= 0) return [];
      const params: unknown[] = [query.deviceId];
      const at = (value: unknown): string => `$${params.push(value)}`;
      let lower = query.from;
      let upper = query.to;
      const where = ['device_id = $1'];
      if (query.after && query.order === 'asc') lower = Math.max(lower, query.after.ts);
      if (query.after && query.order === 'desc') upper = Math.min(upper, query.after.ts + 1);
      where.push(`ts >= ${at(new Date(lower))}`, `ts < ${at(new Date(upper))}`);
      if (query.keys?.length) where.push(`key = ANY(${at(query.keys)}::text[])`);
      if (query.after) {
        // The bounds above already keep ts on the right side of after.ts; ties at after.ts go by key.
        const op = query.order === 'asc' ? '>' : '<';
        where.push(`(ts ${op} ${at(new Date(query.after.ts))} OR key COLLATE "C" ${op} ${at(query.after.key)})`);
      }
      const dir = query.order === 'asc' ? 'ASC' : 'DESC';
      const { rows } = await db.query<ValueRow>(
        `SELECT key, ts, num, bool, str FROM telemetry
         WHERE ${where.join(' AND ')}
         ORDER BY ts ${dir}, key COLLATE "C" ${dir}
         LIMIT ${at(query.limit)}`,
        params,
      );
      return rows.map(storedValue);
    },

    async aggregate(query) {
      assertInterval(query.intervalMs);
      const params: unknown[] = [query.deviceId, new Date(query.from), new Date(query.to), query.intervalMs];
      const keys = query.keys?.length ? `AND key = ANY($${params.push(query.keys)}::text[])` : '';
      const bucket = (column: string) => `date_bin($4::float8 * interval '1 millisecond', ${column}, timestamptz 'epoch')`;
      // The coarsest rollup whose buckets fit the interval's answers the whole buckets of [from, to); the points
      // answer the cut ends before and after them, so the result is what the points alone would give.
      const level = levels.find((candidate) => query.intervalMs % candidate.widthMs === 0);
      const lo = level && Math.ceil(query.from / level.widthMs) * level.widthMs;
      const hi = level && Math.floor(query.to / level.widthMs) * level.widthMs;
      const sql =
        level && lo !== undefined && hi !== undefined && lo < hi
          ? `WITH parts AS (
               SELECT key, bucket AS at, count, num_count, sum, min, max FROM ${level.table}
               WHERE device_id = $1 AND bucket >= $${params.push(new Date(lo))} AND bucket < $${params.push(new Date(hi))} ${keys}
               UNION ALL
               SELECT key, ts, 1, (num IS NOT NULL)::int, num, num, num FROM telemetry
               WHERE device_id = $1 AND ((ts >= $2 AND ts < $${params.length - 1}) OR (ts >= $${params.length} AND ts < $3)) ${keys}
             )
             SELECT key, ${bucket('at')} AS bucket, ${rollupAggregates[query.agg]} AS value, sum(count)::float8 AS count
             FROM parts GROUP BY key, 2 ORDER BY key COLLATE "C", 2`
          : `SELECT key, ${bucket('ts')} AS bucket, ${pointAggregates[query.agg]} AS value, count(*)::float8 AS count
             FROM telemetry
             WHERE device_id = $1 AND ts >= $2 AND ts < $3 ${keys}
             GROUP BY key, 2 ORDER BY key COLLATE "C", 2`;
      const { rows } = await db.query<{ key: string; bucket: Date; value: number | null; count: number }>(sql, params);
      return rows.map((row): Bucket => ({ key: row.key, ts: row.bucket.getTime(), value: row.value, count: row.count }));
    },

    async latest(deviceId, keys) {
      // One index probe per key instead of reading the device's whole history (DISTINCT ON would).
      // Without keys, the recursive part walks the device's distinct keys through the primary key.
      const source = keys?.length
        ? `SELECT DISTINCT unnest($2::text[]) AS key`
        : `WITH RECURSIVE walk AS (
             (SELECT key FROM telemetry WHERE device_id = $1 ORDER BY key LIMIT 1)
             UNION ALL
             SELECT (SELECT t.key FROM telemetry t WHERE t.device_id = $1 AND t.key > walk.key ORDER BY t.key LIMIT 1)
             FROM walk WHERE walk.key IS NOT NULL
           )
           SELECT key FROM walk WHERE key IS NOT NULL`;
      const { rows } = await db.query<ValueRow>(
        `SELECT k.key, v.ts, v.num, v.bool, v.str
         FROM (${source}) k
         CROSS JOIN LATERAL (
           SELECT ts, num, bool, str FROM telemetry t
           WHERE t.device_id = $1 AND t.key = k.key ORDER BY t.ts DESC LIMIT 1
         ) v
         ORDER BY k.key COLLATE "C"`,
        keys?.length ? [deviceId, keys] : [deviceId],
      );
      return rows.map(storedValue);
    },

    async deleteRange(query) {
      const params: unknown[] = [query.deviceId];
      const where = ['device_id = $1'];
      if (query.from !== undefined) where.push(`ts >= $${params.push(new Date(query.from))}`);
      if (query.to !== undefined) where.push(`ts < $${params.push(new Date(query.to))}`);
      if (query.keys?.length) where.push(`key = ANY($${params.push(query.keys)}::text[])`);
      const removed = await deleteInBatches(db, 'telemetry', where.join(' AND '), params);
      await db.transaction((tx) => refreshRange(tx, query, pointsHorizon(Date.now())));
      return removed;
    },

    async deleteDevice(deviceId) {
      await deleteInBatches(db, 'telemetry', 'device_id = $1', [deviceId]);
      for (const { table } of levels) await deleteInBatches(db, table, 'device_id = $1', [deviceId]);
      await deleteInBatches(db, 'telemetry_messages', 'device_id = $1', [deviceId]);
    },

    async expire(cutoffs) {
      const now = Date.now();
      const removed = await db.transaction(async (tx) => {
        // Dropping a partition waits for the queries reading the table; past this it tries again next pass
        // rather than hold up every writer queued behind it.
        await tx.query(`SET LOCAL lock_timeout = '${RETENTION_LOCK_TIMEOUT}'`);
        const dropped = await tx.query<{ row_count: string }>(`SELECT row_count FROM telemetry_partitions_drop('telemetry', $1)`, [new Date(cutoffs.points)]);
        for (const { table } of levels) {
          await tx.query(`SELECT count(*) FROM telemetry_partitions_drop($1, $2)`, [table, new Date(cutoffs.rollups)]);
        }
        return dropped.rows.reduce((sum, row) => sum + Number(row.row_count), 0);
      });
      partitions.forget();
      // The markers of messages stored before the cutoff: a redelivery that late is long settled.
      await deleteInBatches(db, 'telemetry_messages', 'stored_at < $1', [new Date(cutoffs.points)]);
      const today = floorTo(now, DAY);
      await partitions.ensure([
        ...Array.from({ length: DAYS_AHEAD + 1 }, (_, i) => ({ table: 'telemetry', start: today + i * DAY })),
        ...levels.flatMap(({ table }) => [monthStart(now), monthStart(monthStart(now) + 32 * DAY)].map((start) => ({ table, start }))),
      ]);
      return removed;
    },

    ping: () => db.ping(),

    async close() {
      // The relational store belongs to whoever created it, and may serve other ports.
    },
  };
}

/**
 * The partitions this process knows exist, so a write asks for the ones it needs only the first time.
 * Making them is telemetry_partitions_ensure's (migration 0007): the one place partitions are named and made.
 */
function createPartitionCache(db: Queryable) {
  const known = new Set<string>();
  const name = (p: { table: string; start: number }) => `${p.table}@${p.start}`;
  return {
    async ensure(wanted: ReadonlyArray<{ table: string; start: number }>): Promise<void> {
      const missing = wanted.filter((p) => !known.has(name(p))).sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : a.start - b.start));
      if (missing.length === 0) return;
      await db.query(
        `SELECT telemetry_partitions_ensure(t, CASE WHEN t = 'telemetry' THEN 'day' ELSE 'month' END, s, s + interval '1 millisecond')
         FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS p(t, s, i) ORDER BY i`,
        [missing.map((p) => p.table), missing.map((p) => new Date(p.start))],
      );
      for (const p of missing) known.add(name(p));
    },
    forget(): void {
      known.clear();
    },
  };
}

/** deadlock_detected: PostgreSQL chose this transaction to roll back. */
function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '40P01';
}

/** "no partition of relation … found for row": PostgreSQL's check_violation for a row no partition takes. */
function isMissingPartition(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '23514' && typeof message === 'string' && message.includes('no partition');
}

const floorTo = (ms: number, width: number): number => Math.floor(ms / width) * width;

function monthStart(ms: number): number {
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

interface PointRow {
  deviceId: string;
  key: string;
  ts: number;
  num: number | null;
  bool: boolean | null;
  str: string | null;
}

function pointRow(deviceId: string, key: string, ts: number, value: TelemetryValue): PointRow {
  const row: PointRow = { deviceId, key, ts, num: null, bool: null, str: null };
  switch (typeof value) {
    case 'number':
      row.num = value;
      break;
    case 'boolean':
      row.bool = value;
      break;
    case 'string':
      row.str = value;
      break;
    default:
      throw new TypeError(`telemetry value of ${key} must be a number, boolean or string, not ${typeof value}`);
  }
  return row;
}

const comparePoints = (a: PointRow, b: PointRow): number =>
  a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : a.ts - b.ts;

/** A rollup bucket to rebuild: device, key and bucket start (ms). */
interface Cell {
  deviceId: string;
  key: string;
  bucket: number;
}

const pointColumns = (rows: readonly PointRow[]): unknown[] => [
  rows.map((row) => row.deviceId),
  rows.map((row) => row.key),
  rows.map((row) => row.ts),
  rows.map((row) => row.num),
  rows.map((row) => row.bool),
  rows.map((row) => row.str),
];

/** pointColumns as rows p(d, k, t, n, b, s, i): i numbers them from 1 in the order given. */
const POINTS = `unnest($1::uuid[], $2::text[], $3::float8[], $4::float8[], $5::bool[], $6::text[]) WITH ORDINALITY AS p(d, k, t, n, b, s, i)`;

/**
 * Inserts the points that are new and merges them into the rollups, in one statement; returns the points
 * already stored at the same device, key and time, which replacePoints writes over.
 */
async function insertPoints(tx: Queryable, rows: PointRow[]): Promise<PointRow[]> {
  // ON CONFLICT DO NOTHING rather than DO UPDATE: what RETURNING gives is then exactly the new points. When every
  // point was new (nearly always) the count says so and the anti-join, which sorts both sides, never runs: it
  // was a quarter of the statement's time.
  const { rows: taken } = await tx.query<{ i: number }>(
    mergeIntoRollupsSql(`
      p AS (SELECT d, k, ${fromMs('t')} AS ts, n, b, s, i FROM ${POINTS}),
      added AS (
        INSERT INTO telemetry (device_id, key, ts, num, bool, str) SELECT d, k, ts, n, b, s FROM p
        ON CONFLICT (device_id, key, ts) DO NOTHING
        RETURNING device_id, key, ts, num
      )`) + `
    SELECT (p.i - 1)::int AS i FROM p
    WHERE (SELECT count(*) FROM added) < ${rows.length}
      AND NOT EXISTS (SELECT 1 FROM added a WHERE a.device_id = p.d AND a.key = p.k AND a.ts = p.ts)`,
    pointColumns(rows),
  );
  return taken.map(({ i }) => rows[i]!);
}

/**
 * Writes over stored points (last write wins: a value of another type clears the column the old one was in)
 * and rebuilds their buckets. A point deleted in the meantime is inserted again, as new.
 */
async function replacePoints(tx: Queryable, rows: PointRow[]): Promise<void> {
  let pending = rows;
  const touched: Cell[] = [];
  while (pending.length > 0) {
    const { rows: updated } = await tx.query<{ i: number }>(
      `UPDATE telemetry t SET num = p.n, bool = p.b, str = p.s
       FROM ${POINTS}
       WHERE t.device_id = p.d AND t.key = p.k AND t.ts = ${fromMs('p.t')}
       RETURNING (p.i - 1)::int AS i`,
      pointColumns(pending),
    );
    const done = new Set(updated.map(({ i }) => i));
    for (const i of done) touched.push({ deviceId: pending[i]!.deviceId, key: pending[i]!.key, bucket: floorTo(pending[i]!.ts, MINUTE) });
    const gone = pending.filter((_, i) => !done.has(i));
    pending = gone.length > 0 ? await insertPoints(tx, gone) : [];
  }
  await rebuildRollups(tx, touched);
}

/** Points too old for the points table (past its retention) still count in the rollups they fall in. */
async function mergeIntoRollups(tx: Queryable, rows: PointRow[]): Promise<void> {
  await tx.query(
    mergeIntoRollupsSql(`added AS (SELECT d AS device_id, k AS key, ${fromMs('t')} AS ts, n AS num FROM ${POINTS})`) +
      ' SELECT 1',
    pointColumns(rows),
  );
}

const rollupColumns = 'device_id, key, bucket, count, num_count, sum, min, max';
const columnsOf = (source: RollupSource): string =>
  `${source.count} AS count, ${source.numCount} AS num_count, ${source.sum} AS sum, ${source.min} AS min, ${source.max} AS max`;

/**
 * The WITH part of a statement that merges new points into both rollup levels: `changes` are WITH definitions,
 * one of them (`added`) yielding the new points' (device_id, key, ts, num). The caller adds the main query.
 * (A data-modifying WITH must sit at the top level, so `changes` cannot be one nested definition.)
 */
function mergeIntoRollupsSql(changes: string): string {
  const merge = (table: string, from: string) => `
    INSERT INTO ${table} AS r (${rollupColumns})
    SELECT ${rollupColumns} FROM ${from} ORDER BY device_id, key, bucket
    ON CONFLICT (device_id, key, bucket) DO UPDATE SET
      count = r.count + excluded.count, num_count = r.num_count + excluded.num_count,
      sum = coalesce(r.sum + excluded.sum, r.sum, excluded.sum),
      min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
    RETURNING device_id, key, bucket`;
  const group = (level: RollupLevel, from: string) => `
    SELECT device_id, key, date_bin(${level.width}, ${level.from.at}, timestamptz 'epoch') AS bucket, ${columnsOf(level.from)}
    FROM ${from} GROUP BY 1, 2, 3`;
  // The hours are grouped from the minutes the minute merge returned, not from `m` itself: PostgreSQL runs the
  // data-modifying parts of a WITH in no promised order, and this makes every minute row locked before any hour
  // row, the order rebuilds lock them in.
  return `WITH ${changes},
    m AS (${group(minutes, 'added')}),
    m_merged AS (${merge(minutes.table, 'm')}),
    h AS (${group(hours, 'm JOIN m_merged USING (device_id, key, bucket)')}),
    h_merged AS (${merge(hours.table, 'h')})`;
}

/** Rebuilds these minute buckets from the points, then their hours from the minutes. */
async function rebuildRollups(tx: Queryable, cells: readonly Cell[]): Promise<void> {
  if (cells.length === 0) return;
  const listed = (list: readonly Cell[]) => ({
    sql: `SELECT DISTINCT d, k, ${fromMs('b')} AS b FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS c(d, k, b)`,
    params: [list.map((c) => c.deviceId), list.map((c) => c.key), list.map((c) => c.bucket)],
  });
  await rebuild(tx, minutes, listed(cells));
  await rebuild(tx, hours, listed(cells.map((cell) => ({ ...cell, bucket: floorTo(cell.bucket, HOUR) }))));
}

/**
 * Sets each bucket `cells` names (rows d, k, b) to what its source holds now: updated, or removed where the
 * source holds nothing in it any more. Before it reads the source it holds every one of the buckets' rows: it
 * claims those missing with a placeholder (its own uncommitted row, which a concurrent merge waits for; replaced
 * or removed below, so no reader ever sees it), then locks them all. Each is its own statement, so each sees
 * what the one before waited for.
 */
async function rebuild(tx: Queryable, level: RollupLevel, cells: { sql: string; params: unknown[] }): Promise<void> {
  const source = level.from;
  await tx.query(
    `WITH cells AS (${cells.sql})
     INSERT INTO ${level.table} (${rollupColumns})
     SELECT d, k, b, 1, 0, NULL, NULL, NULL FROM cells ORDER BY d, k, b
     ON CONFLICT (device_id, key, bucket) DO NOTHING`,
    cells.params,
  );
  await tx.query(
    `WITH cells AS (${cells.sql})
     SELECT count(*) FROM (
       SELECT 1 FROM ${level.table} r JOIN cells c ON r.device_id = c.d AND r.key = c.k AND r.bucket = c.b
       ORDER BY r.device_id, r.key, r.bucket FOR UPDATE OF r
     ) AS locked`,
    cells.params,
  );
  await tx.query(
    `WITH cells AS (${cells.sql}),
     fresh AS (
       -- LATERAL, so each bucket is one range read of the source's primary key: joined as sets, the planner
       -- may hash the whole source by device and key and test every row against every bucket.
       SELECT c.d AS device_id, c.k AS key, c.b AS bucket, a.*
       FROM cells c CROSS JOIN LATERAL (
         SELECT ${columnsOf(source)} FROM ${source.table} s
         WHERE s.device_id = c.d AND s.key = c.k AND s.${source.at} >= c.b AND s.${source.at} < c.b + ${level.width}
       ) a
     ),
     kept AS (
       INSERT INTO ${level.table} (${rollupColumns}) SELECT ${rollupColumns} FROM fresh WHERE count > 0
       ON CONFLICT (device_id, key, bucket) DO UPDATE SET count = excluded.count, num_count = excluded.num_count,
         sum = excluded.sum, min = excluded.min, max = excluded.max
     )
     DELETE FROM ${level.table} r USING fresh f
     WHERE r.device_id = f.device_id AND r.key = f.key AND r.bucket = f.bucket AND f.count = 0`,
    cells.params,
  );
}

/** A device's telemetry in [from, to) (all time where a bound is absent), of some keys or all. */
interface Range {
  deviceId: string;
  keys?: string[];
  from?: number;
  to?: number;
}

/**
 * Brings the rollups of a range in line with the points, after points were removed (deleteRange) or loaded
 * around the store (a bulk import by SQL, the bench's seed): within the points' retention every bucket the range
 * touches is rebuilt from the points; older buckets, whose points are gone, are removed where the range covers
 * them whole (one it cuts keeps what it holds: nothing is left to tell the two parts apart).
 */
async function refreshRange(tx: Queryable, range: Range, pointsHorizon: number): Promise<void> {
  for (const level of [minutes, hours]) {
    const scope = (params: unknown[], at: string): string[] => [
      'device_id = $1',
      ...(range.keys?.length ? [`key = ANY($${params.push(range.keys)}::text[])`] : []),
      ...(range.to !== undefined ? [`${at} < $${params.push(new Date(range.to))}`] : []),
    ];
    const params: unknown[] = [range.deviceId];
    const from = Math.max(floorTo(range.from ?? -Infinity, level.widthMs), pointsHorizon);
    const since = (at: string) => (Number.isFinite(from) ? [`${at} >= $${params.push(new Date(from))}`] : []);
    const source = level.from;
    // The buckets there are, and those the source has points (or finer buckets) for.
    const cells = `
      SELECT device_id AS d, key AS k, bucket AS b FROM ${level.table} WHERE ${[...scope(params, 'bucket'), ...since('bucket')].join(' AND ')}
      UNION
      SELECT DISTINCT device_id, key, date_bin(${level.width}, ${source.at}, timestamptz 'epoch') FROM ${source.table}
      WHERE ${[...scope(params, source.at), ...since(source.at)].join(' AND ')}`;
    await rebuild(tx, level, { sql: cells, params });

    if (!Number.isFinite(pointsHorizon) || (range.from ?? -Infinity) >= pointsHorizon) continue;
    const end = Math.min(range.to ?? Infinity, pointsHorizon);
    const oldParams: unknown[] = [range.deviceId];
    const old = [...scope(oldParams, 'bucket'), `bucket <= $${oldParams.push(new Date(end - level.widthMs))}`];
    if (range.from !== undefined) old.push(`bucket >= $${oldParams.push(new Date(Math.ceil(range.from / level.widthMs) * level.widthMs))}`);
    await tx.query(`DELETE FROM ${level.table} WHERE ${old.join(' AND ')}`, oldParams);
  }
}

/**
 * Rebuilds the rollups of a range from the points: for points loaded by SQL rather than through `write`
 * (a bulk import, the bench's seed). Every point counts, whatever its age.
 */
export async function refreshRollups(db: Relational, range: Range): Promise<void> {
  await db.transaction((tx) => refreshRange(tx, range, -Infinity));
}

function storedValue(row: ValueRow): StoredValue {
  const value = row.num ?? row.bool ?? row.str;
  // The table's CHECK keeps exactly one column set; a row breaking it means the schema changed under us.
  if (value === null) throw new Error(`telemetry row ${row.key} at ${row.ts.toISOString()} has no value`);
  return { key: row.key, ts: row.ts.getTime(), value };
}

function assertInterval(intervalMs: number): void {
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`intervalMs must be a positive whole number of milliseconds, not ${intervalMs}`);
  }
}

/**
 * Deletes the rows of `table` matching `where` in batches, each its own statement (and transaction).
 * It stops on a batch that found fewer rows than the limit, not one that deleted fewer: a row rewritten
 * concurrently is skipped by its batch (its ctid moved) but must not end the loop early.
 * The DELETE tests `where` again: a ctid names a row only within one partition, and every partition of a
 * partitioned table has its own row (0,1), so a ctid alone would reach other devices' rows.
 */
async function deleteInBatches(db: Queryable, table: string, where: string, params: unknown[]): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await db.query<{ seen: number; deleted: number }>(
      `WITH doomed AS (SELECT ctid FROM ${table} WHERE ${where} LIMIT ${DELETE_BATCH}),
            gone AS (DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed)) AND ${where} RETURNING 1)
       SELECT (SELECT count(*) FROM doomed)::int AS seen, (SELECT count(*) FROM gone)::int AS deleted`,
      params,
    );
    const { seen, deleted } = rows[0] ?? { seen: 0, deleted: 0 };
    total += deleted;
    if (seen < DELETE_BATCH) return total;
  }
}
