/**
 * Brings a database up to the schema in `shared/db/migrations`: versioned files `NNNN_name.sql`,
 * applied in order, each recorded in `schema_migrations` under its file name without `.sql`.
 *
 *   const { applied } = await migrate(db);   // [] when the schema was already current
 *
 * Everything runs in one transaction behind an advisory lock, so a failing file leaves no trace and
 * several processes starting at once apply each file exactly once (the others wait, then find it done).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Relational } from '../ports/relational.ts';

export const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

/** Any fixed bigint will do; it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK = 7_104_395_283_761;

const FILE_NAME = /^(\d{4})_[\w-]+\.sql$/;

export async function migrate(db: Relational, dir = migrationsDir): Promise<{ applied: string[] }> {
  const files = await migrationFiles(dir);
  return db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: string }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = file.slice(0, -'.sql'.length);
      if (done.has(version)) continue;
      await tx.query(await readFile(join(dir, file), 'utf8'));
      await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
      applied.push(version);
    }
    return { applied };
  });
}

/** Sorted migration files; a misnamed `.sql` file or a reused number is a mistake worth stopping for. */
async function migrationFiles(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  const numbers = new Set<string>();
  for (const file of files) {
    const number = FILE_NAME.exec(file)?.[1];
    if (!number) throw new Error(`migration ${file} is not named NNNN_name.sql`);
    if (numbers.has(number)) throw new Error(`migration number ${number} is used twice in ${dir}`);
    numbers.add(number);
  }
  return files;
}
