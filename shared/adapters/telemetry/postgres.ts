/**
 * The telemetry store port over PostgreSQL, through the relational port, so it runs on a server (`pg`) and on
 * PGlite alike. Tables come from migration 0003_telemetry; retention is `expire`, called on a schedule.
 *
 *   const telemetry = createPostgresTelemetryStore(db);   // db: Relational, already migrated
 *   await telemetry.write([{ messageId, deviceId, points: [{ ts: Date.now(), values: { temp: 21.5 } }] }]);
 *
 * Device ids are uuids (the devices domain's ids); keys sort bytewise (`COLLATE "C"`), as MongoDB sorts them.
 */
import type { Queryable, Relational } from '../../ports/relational.ts';
import type {
  Aggregation,
  Bucket,
  StoredValue,
  TelemetryMessage,
  TelemetryStore,
  TelemetryValue,
} from '../../ports/telemetry-store.ts';

/** Rows per INSERT: large enough to amortise the round trip, small enough to keep the parameter arrays modest. */
const INSERT_CHUNK = 20_000;
/** Rows per DELETE, so retention and device removal never hold one huge transaction. */
const DELETE_BATCH = 50_000;
/** Devices per expiry round: each round deletes through the (device_id, ts) index. */
const EXPIRE_DEVICES = 1_000;

/** Exact for whole milliseconds: the interval product is computed in integer microseconds. */
const fromMs = (param: string): string => `timestamptz 'epoch' + ${param} * interval '1 millisecond'`;

interface ValueRow {
  key: string;
  ts: Date;
  num: number | null;
  bool: boolean | null;
  str: string | null;
}

const aggregates: Record<Aggregation, string> = {
  avg: 'avg(num)',
  min: 'min(num)',
  max: 'max(num)',
  sum: 'sum(num)',
  count: 'count(*)::float8',
};

export function createPostgresTelemetryStore(db: Relational): TelemetryStore {
  return {
    kind: 'postgres',

    async prepare() {
      // The schema is migration 0003, applied when the platform starts; retention is `expire`.
    },

    async write(messages) {
      const unique = new Map<string, TelemetryMessage>();
      for (const message of messages) if (!unique.has(message.messageId)) unique.set(message.messageId, message);
      const repeatedInCall = messages.length - unique.size;
      if (unique.size === 0) return { written: 0, duplicates: 0 };

      return db.transaction(async (tx) => {
        // Sorted (as the points are below), so concurrent writers take row locks in the same order.
        const ids = [...unique.keys()].sort();
        const { rows } = await tx.query<{ message_id: string }>(
          `INSERT INTO telemetry_messages (message_id, device_id)
           SELECT * FROM unnest($1::text[], $2::uuid[])
           ON CONFLICT DO NOTHING RETURNING message_id`,
          [ids, ids.map((id) => unique.get(id)!.deviceId)],
        );
        const fresh = new Set(rows.map((row) => row.message_id));

        // One row per (device, key, ts): ON CONFLICT DO UPDATE refuses to touch a row twice in one statement,
        // and the later value in the call is the one that must win.
        const points = new Map<string, PointRow>();
        for (const message of unique.values()) {
          if (!fresh.has(message.messageId)) continue;
          for (const point of message.points) {
            for (const [key, value] of Object.entries(point.values)) {
              points.set(`${message.deviceId}\u0000${key}\u0000${point.ts}`, pointRow(message.deviceId, key, point.ts, value));
            }
          }
        }
        const sorted = [...points.values()].sort(comparePoints);
        for (let start = 0; start < sorted.length; start += INSERT_CHUNK) {
          await insertPoints(tx, sorted.slice(start, start + INSERT_CHUNK));
        }
        return { written: fresh.size, duplicates: unique.size - fresh.size + repeatedInCall };
      });
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
      const { rows } = await db.query<{ key: string; bucket: Date; value: number | null; count: number }>(
        `SELECT key, date_bin($4::float8 * interval '1 millisecond', ts, timestamptz 'epoch') AS bucket,
                ${aggregates[query.agg]} AS value, count(*)::float8 AS count
         FROM telemetry
         WHERE device_id = $1 AND ts >= $2 AND ts < $3 ${keys}
         GROUP BY key, bucket
         ORDER BY key COLLATE "C", bucket`,
        params,
      );
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
      return deleteInBatches(db, 'telemetry', where.join(' AND '), params);
    },

    async deleteDevice(deviceId) {
      await deleteInBatches(db, 'telemetry', 'device_id = $1', [deviceId]);
      await deleteInBatches(db, 'telemetry_messages', 'device_id = $1', [deviceId]);
    },

    async expire(cutoff) {
      const before = new Date(cutoff);
      let removed = 0;
      // Device by device through the (device_id, ts) index: a plain `ts < cutoff` has no index to use,
      // and batches found by scanning the heap would rescan it from the start every time.
      let after: string | undefined;
      for (;;) {
        const devices = await devicePage(db, after);
        if (devices.length === 0) break;
        removed += await deleteInBatches(db, 'telemetry', 'device_id = ANY($1::uuid[]) AND ts < $2', [devices, before]);
        after = devices[devices.length - 1];
      }
      await deleteInBatches(db, 'telemetry_messages', 'stored_at < $1', [before]);
      return removed;
    },

    ping: () => db.ping(),

    async close() {
      // The relational store belongs to whoever created it, and may serve other ports.
    },
  };
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

/** Last write wins: a value of another type clears the column the old one was in. */
async function insertPoints(tx: Queryable, rows: PointRow[]): Promise<void> {
  await tx.query(
    `INSERT INTO telemetry (device_id, key, ts, num, bool, str)
     SELECT d, k, ${fromMs('t')}, n, b, s
     FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::float8[], $5::bool[], $6::text[]) AS p(d, k, t, n, b, s)
     ON CONFLICT (device_id, key, ts) DO UPDATE SET num = excluded.num, bool = excluded.bool, str = excluded.str`,
    [
      rows.map((row) => row.deviceId),
      rows.map((row) => row.key),
      rows.map((row) => row.ts),
      rows.map((row) => row.num),
      rows.map((row) => row.bool),
      rows.map((row) => row.str),
    ],
  );
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
 */
async function deleteInBatches(db: Queryable, table: string, where: string, params: unknown[]): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await db.query<{ seen: number; deleted: number }>(
      `WITH doomed AS (SELECT ctid FROM ${table} WHERE ${where} LIMIT ${DELETE_BATCH}),
            gone AS (DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed)) RETURNING 1)
       SELECT (SELECT count(*) FROM doomed)::int AS seen, (SELECT count(*) FROM gone)::int AS deleted`,
      params,
    );
    const { seen, deleted } = rows[0] ?? { seen: 0, deleted: 0 };
    total += deleted;
    if (seen < DELETE_BATCH) return total;
  }
}

/** The next devices holding telemetry, in id order: a loose index scan, one probe per device. */
async function devicePage(db: Queryable, after: string | undefined): Promise<string[]> {
  const { rows } = await db.query<{ device_id: string }>(
    `WITH RECURSIVE walk AS (
       (SELECT device_id FROM telemetry ${after ? 'WHERE device_id > $1' : ''} ORDER BY device_id LIMIT 1)
       UNION ALL
       SELECT (SELECT t.device_id FROM telemetry t WHERE t.device_id > walk.device_id ORDER BY t.device_id LIMIT 1)
       FROM walk WHERE walk.device_id IS NOT NULL
     )
     SELECT device_id FROM walk WHERE device_id IS NOT NULL LIMIT ${EXPIRE_DEVICES}`,
    after ? [after] : [],
  );
  return rows.map((row) => row.device_id);
}
