/**
 * Brings a database up to the schema in `shared/db/migrations`: versioned files `NNNN_name.sql`,
 * applied in order, each recorded in `schema_migrations` under its file name without `.sql`.
 *
 *   const { applied } = await migrate(db);   // [] when the schema was already current
 *
 * Everything runs in one transaction behind an advisory lock, so a failing file leaves no trace and
 * several processes starting at once apply each file exactly once (the others wait, then find it done).
 *
 * Who migrates: whichever process starts first after a deploy that brings a new file. Every process calls this
 * at start, but when the schema is current (every cold start but the first) it costs one read of
 * `schema_migrations` on a connection the first request needs anyway: no transaction, no lock, no file read.
 * A separate migration job would save that read and add a deploy step to order; one read is cheaper.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Relational } from '../ports/relational.ts';
import { bundledMigrations } from './bundled-migrations.ts';

export const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Any fixed bigint will do; it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK = 7_104_395_283_761;

const FILE_NAME = /^(\d{4})_[\w-]+\.sql$/;

interface Migration {
  version: string;
  sql(): Promise<string>;
}

export async function migrate(db: Relational, dir?: string): Promise<{ applied: string[] }> {
  const migrations = await migrationsIn(dir);
  if (await isCurrent(db, migrations)) return { applied: [] };
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    const applied: string[] = [];
    for (const { version, sql } of migrations) {
      if (done.has(version)) continue;
      await tx.query(await sql());
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
      applied.push(version);
    }
    return { applied };
  });
}

/** One read, outside any transaction: are all these versions recorded? A missing table means no. */
async function isCurrent(db: Relational, migrations: readonly Migration[]): Promise<boolean> {
  try {
    const { rows } = await db.query<{ version: string }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    return migrations.every(({ version }) => done.has(version));
  } catch {
    return false;
  }
}

/** The migrations of `dir`, or the bundle's own (else the source folder's) when no folder is named. */
async function migrationsIn(dir: string | undefined): Promise<Migration[]> {
  if (dir === undefined && bundledMigrations) {
    const byFile = new Map(bundledMigrations.map((m) => [m.file, m.sql]));
    return checkedNames([...byFile.keys()], 'the bundle').map((file) => ({ version: versionOf(file), sql: async () => byFile.get(file)! }));
  }
  const folder = dir ?? migrationsDir;
  const files = await migrationFiles(folder);
  return files.map((file) => ({ version: versionOf(file), sql: () => readFile(join(folder, file), 'utf8') }));
}

const versionOf = (file: string) => file.slice(0, -'.sql'.length);

/** Sorted migration files; a misnamed `.sql` file or a reused number is a mistake worth stopping for. */
async function migrationFiles(dir: string): Promise<string[]> {
  return checkedNames((await readdir(dir)).filter((file) => file.endsWith('.sql')), dir);
}

function checkedNames(names: readonly string[], dir: string): string[] {
  const files = [...names].sort();
  const numbers = new Set<string>();
  for (const file of files) {
    const number = FILE_NAME.exec(file)?.[1];
    if (!number) throw new Error(`migration ${file} is not named NNNN_name.sql`);
    if (numbers.has(number)) throw new Error(`migration number ${number} is used twice in ${dir}`);
    numbers.add(number);
  }
  return files;
}
