/**
 * Migrations against the real server (a fresh schema per test, so the shared `test` database is left
 * alone) and against PGlite (a fresh in-memory instance per test), from temporary migration folders.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPglite } from '../shared/adapters/relational/pglite.ts';
import { createPostgres } from '../shared/adapters/relational/postgres.ts';
import { migrate, migrationsDir } from '../shared/db/migrate.ts';
import type { Relational } from '../shared/ports/relational.ts';
import { rejection } from './relational.contract.ts';
import { services } from './support/services.ts';

const good = {
  // The sleep makes two concurrent runs overlap for certain instead of by luck.
  '0001_widgets.sql': 'SELECT pg_sleep(0.1);\nCREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL);',
  '0002_widget_colour.sql': "ALTER TABLE widgets ADD COLUMN colour text;\nINSERT INTO widgets (name, colour) VALUES ('first', 'red');",
};
const versions = ['0001_widgets', '0002_widget_colour'];
const failing = { ...good, '0002_widget_colour.sql': 'ALTER TABLE widgets ADD COLUMN colour text;\nSELECT no_such_function();' };

const folders: string[] = [];

/** A new temporary migration folder holding exactly `files`. */
async function migrationFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
  folders.push(dir);
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

async function removeFolders(): Promise<void> {
  for (const dir of folders.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** Whether `name` resolves to a table through the connection's search_path. */
async function tableExists(db: Relational, name: string): Promise<boolean> {
  const { rows } = await db.query<{ found: string | null }>('SELECT to_regclass($1)::text AS found', [name]);
  return rows[0]?.found != null;
}

async function recordedVersions(db: Relational): Promise<string[]> {
  const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((row) => row.version);
}

const onPostgres = suite<{ admin: Relational; schemas: string[] }>('migrate on postgres');

onPostgres.before(async (ctx) => {
  ctx.admin = createPostgres(services.databaseUrl, { max: 2 });
  ctx.schemas = [];
});

onPostgres.after(async ({ admin, schemas }) => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.close();
  await removeFolders();
});

/**
 * A new empty schema, and a URL whose connections work inside it; with `andPublic`, public comes second in the
 * search_path, where the shipped migrations find the extensions the database has (pg_trgm).
 */
async function freshSchema(ctx: { admin: Relational; schemas: string[] }, andPublic = false): Promise<string> {
  const schema = `mig_${randomBytes(4).toString('hex')}`;
  await ctx.admin.query(`CREATE SCHEMA ${schema}`);
  ctx.schemas.push(schema);
  const url = new URL(services.databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}${andPublic ? ',public' : ''}`);
  return url.toString();
}

/**
 * A database at 0006 holding telemetry, brought to 0007: the points move into day partitions unchanged and the
 * rollups hold what the points sum up to.
 */
async function upgradesTelemetry(db: Relational): Promise<void> {
  const shipped = (await readdir(migrationsDir)).filter((file) => file.endsWith('.sql')).sort();
  const before = await migrationFolder(Object.fromEntries(
    await Promise.all(shipped.filter((file) => file < '0007').map(async (file) => [file, await readFile(join(migrationsDir, file), 'utf8')] as const)),
  ));
  assert.equal((await migrate(db, before)).applied.length, 6);
  const device = '00000000-0000-4000-8000-000000000001';
  // Three days, two keys, numbers and a string, some in one minute, one an hour later.
  const t0 = Date.UTC(2026, 10, 3, 23, 59, 30);
  const points = [
    [t0, 'a', 1.5, null], [t0 + 10_000, 'a', 2, null], [t0 + 20_000, 'b', null, 'on'], [t0 + 40_000, 'a', -4, null],
    [t0 + 3_600_000, 'a', 8, null], [t0 + 2 * 86_400_000, 'b', 3, null],
  ] as const;
  for (const [ts, key, num, str] of points) {
    await db.query('INSERT INTO telemetry (device_id, key, ts, num, str) VALUES ($1, $2, $3, $4, $5)', [device, key, new Date(ts), num, str]);
  }
  const all = 'SELECT key, ts, num, str FROM telemetry ORDER BY ts, key';
  const rows = (await db.query(all)).rows;

  await migrate(db);
  assert.equal((await db.query(all)).rows, rows, 'the points, unchanged');
  const { rows: kind } = await db.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE oid = 'telemetry'::regclass`);
  assert.is(kind[0]?.relkind, 'p', 'telemetry is partitioned');
  const { rows: days } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1`,
  );
  assert.equal(days.map((d) => d.name), ['telemetry_p20261103', 'telemetry_p20261104', 'telemetry_p20261105']);
  const rollup = (table: string) => db.query(`SELECT key, bucket, count, num_count, sum, min, max FROM ${table} ORDER BY key, bucket`).then((r) => r.rows);
  const at = (ms: number) => new Date(ms);
  const minute = (ms: number) => Math.floor(ms / 60_000) * 60_000;
  const hour = (ms: number) => Math.floor(ms / 3_600_000) * 3_600_000;
  assert.equal(await rollup('telemetry_rollup_1m'), [
    { key: 'a', bucket: at(minute(t0)), count: 2, num_count: 2, sum: 3.5, min: 1.5, max: 2 },
    { key: 'a', bucket: at(minute(t0 + 40_000)), count: 1, num_count: 1, sum: -4, min: -4, max: -4 },
    { key: 'a', bucket: at(minute(t0 + 3_600_000)), count: 1, num_count: 1, sum: 8, min: 8, max: 8 },
    { key: 'b', bucket: at(minute(t0 + 20_000)), count: 1, num_count: 0, sum: null, min: null, max: null },
    { key: 'b', bucket: at(minute(t0 + 2 * 86_400_000)), count: 1, num_count: 1, sum: 3, min: 3, max: 3 },
  ]);
  assert.equal(await rollup('telemetry_rollup_1h'), [
    { key: 'a', bucket: at(hour(t0)), count: 2, num_count: 2, sum: 3.5, min: 1.5, max: 2 },
    { key: 'a', bucket: at(hour(t0 + 40_000)), count: 2, num_count: 2, sum: 4, min: -4, max: 8 },
    { key: 'b', bucket: at(hour(t0 + 20_000)), count: 1, num_count: 0, sum: null, min: null, max: null },
    { key: 'b', bucket: at(hour(t0 + 2 * 86_400_000)), count: 1, num_count: 1, sum: 3, min: 3, max: 3 },
  ]);
}

onPostgres('0007 moves stored telemetry into day partitions and rolls it up', async (ctx) => {
  const db = createPostgres(await freshSchema(ctx, true), { max: 1 });
  try {
    // With public on the path, migrate would read public's schema_migrations (the test database's, all done):
    // an empty one here comes first.
    await db.query('CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
    await upgradesTelemetry(db);
  } finally {
    await db.close();
  }
});

onPostgres('migrationsDir is the absolute shared/db/migrations folder', () => {
  assert.ok(migrationsDir.replaceAll('\\', '/').endsWith('/shared/db/migrations/'), migrationsDir);
  assert.ok(existsSync(migrationsDir));
});

onPostgres('applies in order once; a second run applies nothing; a new file applies alone', async (ctx) => {
  const dir = await migrationFolder(good);
  const db = createPostgres(await freshSchema(ctx), { max: 1 });
  try {
    assert.equal(await migrate(db, dir), { applied: versions });
    assert.equal(await migrate(db, dir), { applied: [] });
    await writeFile(join(dir, '0003_widget_size.sql'), 'ALTER TABLE widgets ADD COLUMN size int;');
    assert.equal(await migrate(db, dir), { applied: ['0003_widget_size'] });
    assert.equal(await recordedVersions(db), [...versions, '0003_widget_size']);
    const { rows } = await db.query('SELECT name, colour, size FROM widgets');
    assert.equal(rows, [{ name: 'first', colour: 'red', size: null }]);
  } finally {
    await db.close();
  }
});

onPostgres('two processes migrating at once apply each file exactly once', async (ctx) => {
  const dir = await migrationFolder(good);
  const url = await freshSchema(ctx);
  const first = createPostgres(url, { max: 1 });
  const second = createPostgres(url, { max: 1 });
  try {
    const results = await Promise.all([migrate(first, dir), migrate(second, dir)]);
    assert.equal(results.flatMap((result) => result.applied).sort(), versions);
    assert.equal(await recordedVersions(first), versions);
  } finally {
    await Promise.all([first.close(), second.close()]);
  }
});

onPostgres('a failing migration leaves no trace, and a fixed one then applies', async (ctx) => {
  const dir = await migrationFolder(failing);
  const db = createPostgres(await freshSchema(ctx), { max: 1 });
  try {
    const error = await rejection(migrate(db, dir));
    assert.is((error as { code?: unknown }).code, '42883'); // undefined_function
    assert.not.ok(await tableExists(db, 'schema_migrations'));
    assert.not.ok(await tableExists(db, 'widgets'));

    await writeFile(join(dir, '0002_widget_colour.sql'), good['0002_widget_colour.sql']);
    assert.equal(await migrate(db, dir), { applied: versions });
  } finally {
    await db.close();
  }
});

onPostgres('refuses misnamed files and reused numbers before touching the database', async ({ admin }) => {
  const misnamed = await migrationFolder({ ...good, 'widgets.sql': 'SELECT 1;' });
  assert.match(String(await rejection(migrate(admin, misnamed))), /widgets\.sql is not named NNNN_name\.sql/);
  const reused = await migrationFolder({ ...good, '0002_other.sql': 'SELECT 1;' });
  assert.match(String(await rejection(migrate(admin, reused))), /number 0002 is used twice/);
  assert.not.ok(await tableExists(admin, 'widgets'));
});

onPostgres.run();

const onPglite = suite('migrate on pglite');

onPglite('applies once, and concurrent runs on one instance apply each file once', async () => {
  const dir = await migrationFolder(good);
  const db = await createPglite();
  try {
    const results = await Promise.all([migrate(db, dir), migrate(db, dir)]);
    assert.equal(results.flatMap((result) => result.applied).sort(), versions);
    assert.equal(await migrate(db, dir), { applied: [] });
    assert.equal(await recordedVersions(db), versions);
  } finally {
    await db.close();
  }
});

onPglite('a failing migration leaves no trace', async () => {
  const dir = await migrationFolder(failing);
  const db = await createPglite();
  try {
    const error = await rejection(migrate(db, dir));
    assert.is((error as { code?: unknown }).code, '42883');
    assert.not.ok(await tableExists(db, 'schema_migrations'));
    assert.not.ok(await tableExists(db, 'widgets'));
  } finally {
    await db.close();
  }
});

onPglite('0007 moves stored telemetry into day partitions and rolls it up', async () => {
  const db = await createPglite();
  try {
    await upgradesTelemetry(db);
  } finally {
    await db.close();
  }
});

onPglite.after(removeFolders);

onPglite.run();
