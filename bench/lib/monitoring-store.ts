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
  /** `count` rows for one key, `stepMs` apart from `fromMs`, inserted by PostgreSQL itself (generate_series). */
  seedSeries(deviceId: string, key: string, fromMs: number, stepMs: number, count: number): Promise<number>;
  /** Refreshes the planner's statistics after a large seed, as autovacuum would a little later. */
  analyze(): Promise<void>;
  /** Deletes the devices' telemetry rows and ingest's message-id records; returns the telemetry rows deleted. */
  deleteTelemetry(deviceIds: readonly string[]): Promise<number>;
  close(): Promise<void>;
}

export function openBenchStore(): BenchStore {
  // Two connections: the count poller of a figure, and a seed or clean-up statement beside it.
  // statement_timeout bounds every statement, so a locked or slow table fails the step instead of hanging it.
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 5_000, statement_timeout: 120_000, idleTimeoutMillis: 5_000 });
  // An idle client losing its server connection must not crash the bench; the next query reports it.
  pool.on('error', () => {});

  const count = async (deviceIds: readonly string[]): Promise<number> => {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM telemetry WHERE device_id = ANY($1::uuid[])', [deviceIds]);
    return Number(rows[0]?.n ?? 0);
  };

  return {
    count,

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
      // A slow sine around 20, so an average per hour is real arithmetic over varying values, not a constant.
      const { rowCount } = await pool.query(
        `INSERT INTO telemetry (device_id, key, ts, num)
         SELECT $1::uuid, $2::text, timestamptz 'epoch' + ($3::float8 + g * $4::float8) * interval '1 millisecond',
                20 + 5 * sin(g / 600.0)
         FROM generate_series(0, $5::int - 1) AS g`,
        [deviceId, key, fromMs, stepMs, rows],
      );
      return rowCount ?? 0;
    },

    async analyze() {
      await pool.query('ANALYZE telemetry');
    },

    async deleteTelemetry(deviceIds) {
      if (deviceIds.length === 0) return 0;
      const { rowCount } = await pool.query('DELETE FROM telemetry WHERE device_id = ANY($1::uuid[])', [deviceIds]);
      // Ingest keeps each message id (to skip redeliveries) until retention; the bench's are of no further use.
      await pool.query('DELETE FROM telemetry_messages WHERE device_id = ANY($1::uuid[])', [deviceIds]);
      return rowCount ?? 0;
    },

    async close() {
      await pool.end();
    },
  };
}
