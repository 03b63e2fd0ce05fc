/**
 * Runs the telemetry store contract on the PostgreSQL adapter against the test server and on PGlite in
 * memory (each migrated first), and on MongoDB only when MONGO_URL names a server: none runs here, so
 * without it the MongoDB run is reported as skipped rather than passed. Also checks what only the
 * PostgreSQL adapter does: expiring message markers, and writes larger than one INSERT.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPglite } from '../shared/adapters/relational/pglite.ts';
import { createPostgres } from '../shared/adapters/relational/postgres.ts';
import { createMongoTelemetryStore } from '../shared/adapters/telemetry/mongo.ts';
import { createPostgresTelemetryStore } from '../shared/adapters/telemetry/postgres.ts';
import { markersCollection, rollupCollection, rollupLevels } from '../shared/adapters/telemetry/mongo-queries.ts';
import { migrate } from '../shared/db/migrate.ts';
import type { Relational } from '../shared/ports/relational.ts';
import type { Bucket, StoredValue } from '../shared/ports/telemetry-store.ts';
import { services } from './support/services.ts';
import { telemetryStoreContract } from './telemetry-store.contract.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Midnight UTC two days ago: inside any retention, so a retention job on the same server leaves it alone. */
const RECENT = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;

/** The buckets the port defines, computed from points read back: what the rollups must agree with. */
function bucketsOf(points: readonly StoredValue[], intervalMs: number, agg: 'sum' | 'min' | 'max' | 'count'): Bucket[] {
  const groups = new Map<string, { key: string; ts: number; all: StoredValue['value'][] }>();
  for (const p of points) {
    const ts = Math.floor(p.ts / intervalMs) * intervalMs;
    const group = groups.get(`${p.key}@${ts}`) ?? { key: p.key, ts, all: [] };
    groups.set(`${p.key}@${ts}`, group);
    group.all.push(p.value);
  }
  return [...groups.values()]
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.ts - b.ts))
    .map(({ key, ts, all }) => {
      const numbers = all.filter((v): v is number => typeof v === 'number');
      const value = agg === 'count' ? all.length : numbers.length === 0 ? null : agg === 'sum' ? numbers.reduce((a, b) => a + b, 0) : Math[agg](...numbers);
      return { key, ts, value, count: all.length };
    });
}

/** A migrated relational store; `close` is for the contract's cleanup, since the telemetry store does not own it. */
async function migrated(open: () => Promise<Relational>): Promise<{ db: Relational; close: () => Promise<void> }> {
  const db = await open();
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return { db, close: () => db.close() };
}

function onRelational(name: string, open: () => Promise<Relational>): void {
  let close: (() => Promise<void>) | undefined;
  telemetryStoreContract(
    name,
    async () => {
      const opened = await migrated(open);
      close = opened.close;
      return createPostgresTelemetryStore(opened.db);
    },
    async () => close?.(),
  );

  const specific = suite<{ db: Relational; devices: string[] }>(`telemetry store on ${name}`);

  specific.before(async (ctx) => {
    ctx.db = (await migrated(open)).db;
    ctx.devices = [];
  });

  specific.after(async ({ db, devices }) => {
    if (!db) return;
    const store = createPostgresTelemetryStore(db);
    for (const id of devices) await store.deleteDevice(id);
    await db.close();
  });

  specific('expire removes message markers stored before the cutoff, so the message is new again', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    const m = { messageId: `expire-${randomUUID()}`, deviceId, points: [{ ts: RECENT, values: { a: 1 } }] };
    const kept = { ...m, messageId: `expire-${randomUUID()}` };
    await store.write([m, kept]);
    // Back-dated, since markers are stamped with the time they were stored.
    await ctx.db.query(`UPDATE telemetry_messages SET stored_at = '1989-06-01T00:00:00Z' WHERE message_id = $1`, [m.messageId]);
    await store.expire({ points: Date.UTC(1990, 0, 1), rollups: Date.UTC(1990, 0, 1) });
    assert.equal(await store.write([m, kept]), { written: 1, duplicates: 1 });
  });

  specific('a write larger than one INSERT is stored whole, in one transaction', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    const t0 = RECENT;
    // 45,000 values: three INSERT statements of at most 20,000 rows.
    const points = Array.from({ length: 15_000 }, (_, i) => ({ ts: t0 + i * 1000, values: { a: i, b: i % 2 === 0, c: `v${i}` } }));
    assert.equal(await store.write([{ messageId: `big-${randomUUID()}`, deviceId, points }]), { written: 1, duplicates: 0 });
    const counts = await store.aggregate({ deviceId, from: t0, to: t0 + DAY, intervalMs: DAY, agg: 'count' });
    assert.equal(counts.map((b) => b.count), [15_000, 15_000, 15_000]);
    assert.is(await store.deleteRange({ deviceId }), 45_000);
  });

  specific('a write that fails part-way stores neither points nor markers', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    const ts = RECENT;
    const good = { messageId: `partial-${randomUUID()}`, deviceId, points: [{ ts, values: { a: 1 } }] };
    // Refused while building the points, after the markers were inserted in the same transaction.
    const broken = { messageId: `partial-${randomUUID()}`, deviceId, points: [{ ts, values: { b: null as unknown as number } }] };
    let failed = false;
    await store.write([good, broken]).catch(() => (failed = true));
    assert.ok(failed, 'a null value is refused');
    assert.equal(await store.latest(deviceId), []);
    assert.equal(await store.write([good]), { written: 1, duplicates: 0 });
  });

  specific('concurrent writers of the same device and minutes, rewriting each other, leave rollups equal to the points', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    // Four writers at once (the ingest trigger's concurrency) on the same minutes but never the same point, so no
    // row lock on a point orders them: two rewrite their own points round after round (each rewrite rebuilds the
    // minute), two add new points (each merged into the minute). The points themselves are the oracle.
    const start = RECENT + 3 * HOUR;
    const writer = (w: number) => async () => {
      for (let round = 0; round < 12; round += 1) {
        const rewriting = w < 2;
        const points = Array.from({ length: 120 }, (_, i) => ({
          ts: start + i * 1_000 + (rewriting ? w : 2 + (w - 2) * 12 + round) * 7,
          values: { v: ((w * 7 + round * 3 + i) % 40) / 4, ...((i + round) % 5 === w ? { s: 'x' } : {}) },
        }));
        await store.write([{ messageId: `race-${randomUUID()}`, deviceId, points }]);
      }
    };
    await Promise.all([0, 1, 2, 3].map((w) => writer(w)()));
    const from = start - 17_000;
    const to = start + 120 * 1_000 + 17_000;
    const points = await store.raw({ deviceId, from, to, order: 'asc', limit: 10_000 });
    for (const intervalMs of [MINUTE, HOUR]) {
      for (const agg of ['sum', 'min', 'max', 'count'] as const) {
        const buckets = await store.aggregate({ deviceId, from, to, intervalMs, agg });
        assert.equal(buckets, bucketsOf(points, intervalMs, agg), `${agg} per ${intervalMs / MINUTE} min`);
      }
    }
  });

  specific('a rebuild waits for a merge into its bucket that lands while it runs, and counts it', async (ctx) => {
    if (ctx.db.kind === 'pglite') {
      // One backend runs one transaction at a time: two writers cannot overlap there.
      console.log('  (skipped on PGlite: its transactions never overlap)');
      return;
    }
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    const minute = RECENT + 5 * HOUR;
    const write = (db: Relational, ts: number, v: number) =>
      createPostgresTelemetryStore(db).write([{ messageId: `gate-${randomUUID()}`, deviceId, points: [{ ts, values: { v } }] }]);
    await write(ctx.db, minute + 1_000, 1);

    // A second writer whose transaction holds at its COMMIT: its new point is merged into the minute, uncommitted.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let second: Promise<unknown> | undefined;
    const startSecond = () =>
      new Promise<void>((merged) => {
        const held: Relational = {
          ...ctx.db,
          transaction: (work) => ctx.db.transaction(async (tx) => {
            const result = await work(tx);
            merged();
            await gate;
            return result;
          }),
        };
        second = write(held, minute + 2_000, 10);
      });
    // The first point written again: its minute is rebuilt. Right after the rebuild has claimed its rows, before
    // it reads the points, the second writer merges its point and holds.
    let claimed = false;
    const paused: Relational = {
      ...ctx.db,
      transaction: (work) => ctx.db.transaction((tx) => work({
        async query<R>(sql: string, params?: readonly unknown[]) {
          const result = await tx.query<R>(sql, params);
          // The claim: placeholders inserted into the minute rollup (the merge of new points inserts `AS r`).
          if (!claimed && sql.includes('INSERT INTO telemetry_rollup_1m (') && sql.includes('DO NOTHING')) {
            claimed = true;
            await startSecond();
            setTimeout(open, 300);
          }
          return result;
        },
      })),
    };
    await write(paused, minute + 1_000, 2);
    await second;
    assert.ok(claimed, 'the rewrite rebuilt its minute');
    const store = createPostgresTelemetryStore(ctx.db);
    const sums = await store.aggregate({ deviceId, from: minute, to: minute + MINUTE, intervalMs: MINUTE, agg: 'sum' });
    assert.equal(sums, [{ key: 'v', ts: minute, value: 12, count: 2 }]);
    assert.equal(await store.aggregate({ deviceId, from: minute - 5 * MINUTE, to: minute + HOUR, intervalMs: HOUR, agg: 'sum' }), [
      { key: 'v', ts: minute, value: 12, count: 2 },
    ]);
  });

  specific('a write into a day whose partition another process dropped makes it again', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const deviceId = randomUUID();
    ctx.devices.push(deviceId);
    // A day of its own far ahead, so dropping its partition touches no one else's data.
    const day = Math.floor(Date.now() / DAY) * DAY + 200 * DAY;
    const partition = `telemetry_p${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}`;
    await store.write([{ messageId: `day-${randomUUID()}`, deviceId, points: [{ ts: day + HOUR, values: { a: 1 } }] }]);
    await ctx.db.query(`DROP TABLE ${partition}`);
    // This store still believes the partition is there; its INSERT finds no partition, and it recovers.
    assert.equal(await store.write([{ messageId: `day-${randomUUID()}`, deviceId, points: [{ ts: day + 2 * HOUR, values: { a: 2 } }] }]), { written: 1, duplicates: 0 });
    assert.equal(await store.raw({ deviceId, from: day, to: day + DAY, order: 'asc', limit: 10 }), [{ key: 'a', ts: day + 2 * HOUR, value: 2 }]);
    await ctx.db.query(`DROP TABLE ${partition}`);
  });

  specific('deleting one device leaves the rows of others that sit at the same place in other partitions', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    const [gone, kept] = [randomUUID(), randomUUID()];
    ctx.devices.push(gone, kept);
    // Two days of their own far ahead: each point is the first row of a new partition, ctid (0,1) in both.
    const day = Math.floor(Date.now() / DAY) * DAY + 300 * DAY;
    await store.write([{ messageId: `ctid-${randomUUID()}`, deviceId: gone, points: [{ ts: day + HOUR, values: { a: 1 } }] }]);
    await store.write([{ messageId: `ctid-${randomUUID()}`, deviceId: kept, points: [{ ts: day + DAY + HOUR, values: { a: 2 } }] }]);
    await store.deleteDevice(gone);
    assert.equal(await store.latest(kept), [{ key: 'a', ts: day + DAY + HOUR, value: 2 }]);
    assert.is(await store.deleteRange({ deviceId: gone }), 0);
    await store.write([{ messageId: `ctid-${randomUUID()}`, deviceId: gone, points: [{ ts: day + HOUR, values: { a: 3 } }] }]);
    assert.is(await store.deleteRange({ deviceId: gone, keys: ['a'] }), 1);
    assert.equal(await store.latest(kept), [{ key: 'a', ts: day + DAY + HOUR, value: 2 }]);
    await store.deleteDevice(kept);
    for (const offset of [0, 1]) {
      await ctx.db.query(`DROP TABLE IF EXISTS telemetry_p${new Date(day + offset * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`);
    }
  });

  specific('the retention pass makes the partitions of the coming days', async (ctx) => {
    const store = createPostgresTelemetryStore(ctx.db);
    await store.expire({ points: Date.UTC(1990, 0, 1), rollups: Date.UTC(1990, 0, 1) });
    const today = Math.floor(Date.now() / DAY) * DAY;
    const names = [0, 1, 2].map((i) => `telemetry_p${new Date(today + i * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`);
    const { rows } = await ctx.db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass AND c.relname = ANY($1::text[])`,
      [names],
    );
    assert.equal(rows.map((r) => r.name).sort(), names);
  });

  specific.run();
}

onRelational('postgres', async () => createPostgres(services.databaseUrl, { max: 4, applicationName: 'telemetry-store-test' }));
onRelational('pglite in memory', () => createPglite());

if (services.mongoUrl) {
  const mongoUrl = services.mongoUrl;
  // A collection per run, dropped afterwards, so runs on a shared server never meet.
  const collection = `telemetry_contract_${randomBytes(4).toString('hex')}`;
  let connected = false;
  telemetryStoreContract(
    'mongodb',
    async () => {
      const store = await createMongoTelemetryStore(mongoUrl, { collection });
      connected = true;
      return store;
    },
    async () => {
      // Unreachable from the start: nothing to drop, and trying again would only hide the first error.
      if (!connected) return;
      const client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
      try {
        await client.connect();
        const names = [collection, markersCollection(collection), ...rollupLevels.map((level) => rollupCollection(collection, level))];
        for (const name of names) await client.db().collection(name).drop().catch(() => {});
      } finally {
        await client.close();
      }
    },
  );
} else {
  console.log('telemetry store contract on MongoDB: skipped, MONGO_URL is not set');
}
