/**
 * The bench's own view of the telemetry table (shared/adapters/telemetry/postgres.ts): how many points of the
 * bench devices are stored, history seeded straight into the table for the query figures, and the clean-up.
 *
 *   const store = openBenchStore();
 *   await store.waitStored(deviceIds, sent, { since: before, timeoutMs: 90_000 });
 *   await store.seedSeries(deviceId, 'temperature', from, 60_000, 43_200);
 *   await store.deleteTelemetry(deviceIds);
 *   await store.close();
 *
 * Counting is how the end-to-end figures know a point is STORED, not just accepted: the ingest trigger acks a
 * message only after its write committed, but nothing outside the gateway can see that ack, so the table itself
 * is the proof. Every bench point is one key at a distinct timestamp, so one stored point is one row.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { DATABASE_URL } from './platform-env.ts';
import { createPostgres } from '../../shared/adapters/relational/postgres.ts';
import { migrate } from '../../shared/db/migrate.ts';
import { refreshRollups, rollupTables } from '../../shared/adapters/telemetry/postgres.ts';

export interface StoredWait {
  /** Rows of the devices beyond `since` when the wait ended. */
  stored: number;
  /** performance.now() of the poll that first saw every point (or of the last poll, on a timeout). */
  at: number;
  /** Polls made; each is one index-only count over the bench devices. */
  polls: number;
  timedOut: boolean;
}

export interface BenchStore {
  count(deviceIds: readonly string[]): Promise<number>;
  /**
   * Polls until the devices hold `since + expected` rows, bounded by `timeoutMs`. The poll interval bounds how
   * late completion is seen, so the figures say which interval they used.
   */
  waitStored(deviceIds: readonly string[], expected: number, options: { since: number; timeoutMs: number; intervalMs?: number }): Promise<StoredWait>;
  /**
   * `count` rows for one key, `stepMs` apart from `fromMs`, inserted by PostgreSQL itself (generate_series) into
   * the partitions they need; the rollups are rebuilt from them as the store does after a bulk load.
   */
  seedSeries(deviceId: string, key: string, fromMs: number, stepMs: number, count: number): Promise<{ rows: number; insertS: number; rollupS: number }>;
  /** Deletes a device's rows in [from, to) with one DELETE; returns how many. */
  deleteRange(deviceId: string, from: number, to: number): Promise<number>;
  /** Drops the telemetry partitions that end at or before `cutoff` (the retention pass's own SQL); returns their names. */
  dropDaysBefore(cutoff: number): Promise<string[]>;
  /** Refreshes the planner's statistics after a large seed, as autovacuum would a little later. */
  analyze(): Promise<void>;
  /** Deletes the devices' telemetry rows and ingest's message-id records; returns the telemetry rows deleted. */
  deleteTelemetry(deviceIds: readonly string[]): Promise<number>;
  /** Brings the schema up to date, as the gateway would at start: the bench's first query needs the tables. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export function openBenchStore(): BenchStore {
  // Two connections: the count poller of a figure, and a seed or clean-up statement beside it.
  // statement_timeout bounds every statement, so a locked or slow table fails the step instead of hanging it.
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 5_000, statement_timeout: 120_000, idleTimeoutMillis: 5_000 });
  // An idle client losing its server connection must not crash the bench; the next query reports it.
  pool.on('error', () => {});
  // The store's own rollup rebuild runs on a connection of the platform's relational adapter.
  const relational = createPostgres(DATABASE_URL, { max: 1, applicationName: 'bench-monitoring-store' });

  const count = async (deviceIds: readonly string[]): Promise<number> => {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = ANY($1::uuid[])', [deviceIds]);
    return Number(rows[0]?.n ?? 0);
  };

  return {
    count,

    async migrate() {
      await migrate(relational);
    },

    async waitStored(deviceIds, expected, { since, timeoutMs, intervalMs = 100 }) {
      const started = performance.now();
      let polls = 0;
      for (;;) {
        const stored = (await count(deviceIds)) - since;
        polls += 1;
        const at = performance.now();
        if (stored >= expected) return { stored, at, polls, timedOut: false };
        if (at - started > timeoutMs) return { stored, at, polls, timedOut: true };
        await sleep(intervalMs);
      }
    },

    async seedSeries(deviceId, key, fromMs, stepMs, rows) {
      const toMs = fromMs + stepMs * rows;
      await pool.query(`SELECT telemetry_partitions_ensure('telemetry', 'day', $1, $2)`, [new Date(fromMs), new Date(toMs)]);
      for (const table of rollupTables) {
        await pool.query(`SELECT telemetry_partitions_ensure($1, 'month', $2, $3)`, [table, new Date(fromMs), new Date(toMs)]);
      }
      const started = performance.now();
      // A slow sine around 20, so an average per hour is real arithmetic over varying values, not a constant.
      const { rowCount } = await pool.query(
        `INSERT INTO telemetry (device_id, key, ts, num)
         SELECT $1::uuid, $2::text, timestamptz 'epoch' + ($3::float8 + g * $4::float8) * interval '1 millisecond',
                20 + 5 * sin(g / 600.0)
         FROM generate_series(0, $5::int - 1) AS g`,
        [deviceId, key, fromMs, stepMs, rows],
      );
      const inserted = performance.now();
      await refreshRollups(relational, { deviceId, from: fromMs, to: toMs });
      return { rows: rowCount ?? 0, insertS: (inserted - started) / 1000, rollupS: (performance.now() - inserted) / 1000 };
    },

    async deleteRange(deviceId, from, to) {
      const { rowCount } = await pool.query('DELETE FROM telemetry WHERE device_id = $1 AND ts >= $2 AND ts < $3', [deviceId, new Date(from), new Date(to)]);
      return rowCount ?? 0;
    },

    async dropDaysBefore(cutoff) {
      const { rows } = await pool.query<{ dropped: string }>(`SELECT dropped FROM telemetry_partitions_drop('telemetry', $1)`, [new Date(cutoff)]);
      return rows.map((row) => row.dropped);
    },

    async analyze() {
      await pool.query(`ANALYZE telemetry, ${rollupTables.join(', ')}`);
    },

    async deleteTelemetry(deviceIds) {
      if (deviceIds.length === 0) return 0;
      const { rowCount } = await pool.query('DELETE FROM telemetry WHERE device_id = ANY($1::uuid[])', [deviceIds]);
      for (const table of rollupTables) await pool.query(`DELETE FROM ${table} WHERE device_id = ANY($1::uuid[])`, [deviceIds]);
      // Ingest keeps each message id (to skip redeliveries) until retention; the bench's are of no further use.
      await pool.query('DELETE FROM telemetry_messages WHERE device_id = ANY($1::uuid[])', [deviceIds]);
      return rowCount ?? 0;
    },

    async close() {
      await Promise.all([pool.end(), relational.close()]);
    },
  };
}
