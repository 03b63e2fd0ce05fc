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
import { markersCollection } from '../shared/adapters/telemetry/mongo-queries.ts';
import { migrate } from '../shared/db/migrate.ts';
import type { Relational } from '../shared/ports/relational.ts';
import { services } from './support/services.ts';
import { telemetryStoreContract } from './telemetry-store.contract.ts';

const DAY = 86_400_000;
/** Midnight UTC two days ago: inside any retention, so a retention job on the same server leaves it alone. */
const RECENT = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;

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
        await client.db().collection(collection).drop().catch(() => {});
        await client.db().collection(markersCollection(collection)).drop().catch(() => {});
      } finally {
        await client.close();
      }
    },
  );
} else {
  console.log('telemetry store contract on MongoDB: skipped, MONGO_URL is not set');
}
