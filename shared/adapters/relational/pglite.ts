/**
 * The relational port over PGlite: real PostgreSQL compiled to WASM, run in this process for the
 * embedded mode. Creating one takes seconds (the WASM backend boots), so make it once per process.
 *
 *   const db = await createPglite('./data/pg');   // on disk; createPglite() keeps it in memory
 */
import { mkdir } from 'node:fs/promises';
import { Mutex, PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import type { LockedRun, Queryable, QueryResult, Relational } from '../../ports/relational.ts';

const text = (value: string): string => value;

export async function createPglite(dataDir?: string): Promise<Relational> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  // PGlite's defaults turn int8 into number/bigint and leave numeric to chance; the port wants exact strings.
  const pglite = await PGlite.create(dataDir, {
    parsers: { 20: text, 1700: text },
    // The extensions the migrations create: trigram indexes back device search by name.
    extensions: { pg_trgm },
  });
  // One backend serves everything, so a statement slipped into an open transaction would join it.
  // PGlite queues its own calls too; this lock keeps the guarantee ours rather than an internal detail.
  const lock = new Mutex();
  // Named locks (withTryLock). PostgreSQL's advisory locks would not do here: every caller shares the one
  // backend session, and a session may take its own advisory lock again. A data directory serves one process
  // only, so a set of names held in this process is the whole truth.
  const held = new Set<string>();

  return {
    kind: 'pglite',
    query: (sql, params) => lock.runExclusive(() => run(pglite, sql, params)),

    transaction: (work) =>
      lock.runExclusive(() =>
        pglite.transaction(async (pgTx) => {
          const tx: Queryable = { query: (sql, params) => run(pgTx, sql, params) };
          return work(tx);
        }),
      ),

    async withTryLock<T>(name: string, work: () => Promise<T>): Promise<LockedRun<T>> {
      if (held.has(name)) return { ran: false };
      held.add(name);
      try {
        return { ran: true, value: await work() };
      } finally {
        held.delete(name);
      }
    },

    async ping() {
      await lock.runExclusive(() => pglite.query('SELECT 1'));
    },

    close: () => lock.runExclusive(() => pglite.close()),
  };
}

/**
 * Without params the text goes through `exec` (simple protocol), which accepts several statements
 * as migration files have; the last statement's result answers for the whole text, as with `pg`.
 */
async function run<R>(
  target: PGlite | Transaction,
  sql: string,
  params?: readonly unknown[],
): Promise<QueryResult<R>> {
  let last: Results<R> | undefined;
  if (params && params.length > 0) {
    last = await target.query<R>(sql, [...params]);
  } else {
    const all = (await target.exec(sql)) as Results<R>[];
    last = all[all.length - 1];
  }
  const rows = last?.rows ?? [];
  // `rowCount` is per statement; `affectedRows` adds up across a multi-statement text, so it is not used.
  return { rows, rowCount: last?.rowCount ?? rows.length };
}
