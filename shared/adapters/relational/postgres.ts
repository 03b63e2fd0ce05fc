/**
 * The relational port over a PostgreSQL server, through a `pg` Pool.
 *
 *   const db = createPostgres(process.env.DATABASE_URL!, { applicationName: 'devices' });
 *   const { rows } = await db.query<{ id: string }>('SELECT id FROM devices WHERE owner = $1', [owner]);
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { LockedRun, Queryable, QueryResult, Relational } from '../../ports/relational.ts';

export interface PostgresOptions {
  /** Pool size; serverless instances want few connections each. */
  max?: number;
  applicationName?: string;
  /** Server-side cap on any one statement, in ms; off unless set. */
  statementTimeoutMs?: number;
}

const text = (value: string): string => value;

/**
 * Pinned here rather than left to pg's global registry, so that another module calling
 * `pg.types.setTypeParser` cannot change what the port promises (int8/numeric as exact strings).
 */
const pinnedParsers: Record<number, (value: string) => unknown> = {
  20: text, // int8
  1700: text, // numeric
  114: JSON.parse, // json
  3802: JSON.parse, // jsonb
  1184: pg.types.getTypeParser(1184, 'text'), // timestamptz → Date, pg's own parser
};

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    (format ?? 'text') === 'text' && pinnedParsers[oid]
      ? pinnedParsers[oid]
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export function createPostgres(url: string, options: PostgresOptions = {}): Relational {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 10_000,
    statement_timeout: options.statementTimeoutMs,
    types,
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener Node would
  // crash the process. The pool has already discarded that client, and the next query reconnects.
  pool.on('error', () => {});

  return {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),

    async transaction(work) {
      const client = await pool.connect();
      // A checked-out client whose server goes away emits 'error' on itself, not on the pool (which listens
      // to idle clients only): unheard, it would crash the process. The query in flight fails as well, and
      // the rollback below then destroys the client.
      const onLost = () => {};
      client.on('error', onLost);
      let open = true;
      const tx: Queryable = {
        query(sql, params) {
          if (!open) return Promise.reject(new Error('transaction is closed'));
          return run(client, sql, params);
        },
      };
      try {
        await client.query('BEGIN');
        const result = await work(tx);
        await client.query('COMMIT');
        open = false;
        client.off('error', onLost);
        client.release();
        return result;
      } catch (error) {
        open = false;
        try {
          await client.query('ROLLBACK');
          client.off('error', onLost);
          client.release();
        } catch (rollbackError) {
          // A connection that cannot roll back is in an unknown state: destroy it, never reuse it (it keeps
          // its listener: a dying connection may still report).
          client.release(rollbackError instanceof Error ? rollbackError : true);
        }
        throw error;
      }
    },

    withTryLock: (name, work) => withTryLock(pool, name, work),

    async ping() {
      await pool.query('SELECT 1');
    },

    close: () => pool.end(),
  };
}

/**
 * The bigint key of a named advisory lock: the first 8 bytes of a SHA-256 of the name, computed here rather than
 * with `hashtext` (whose values PostgreSQL does not promise to keep across versions), and prefixed so that our
 * keys are unlikely to meet another program's advisory locks on the same database.
 */
export function advisoryLockKey(name: string): string {
  return createHash('sha256').update(`iotfn:${name}`).digest().readBigInt64BE(0).toString();
}

/**
 * A session-level advisory lock held on one pooled connection for the whole of `work`. Session-level, because
 * `work` runs its statements on other connections of the pool: a transaction-level lock would need a
 * transaction left open (idle in transaction) on the lock's connection the whole time, which holds back vacuum
 * and is what `idle_in_transaction_session_timeout` kills. The lock therefore costs one pooled connection while
 * it is held (a pool of one would leave `work` none). A connection that dies ends its session, and the server
 * releases the lock with it.
 */
async function withTryLock<T>(pool: pg.Pool, name: string, work: () => Promise<T>): Promise<LockedRun<T>> {
  const key = advisoryLockKey(name);
  const client = await pool.connect();
  // As in transaction(): a checked-out client that loses its server emits 'error' on itself.
  const onLost = () => {};
  client.on('error', onLost);
  // Whether the session is known to hold no lock of ours, so the pool may hand it to someone else.
  let clean = false;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::int8) AS locked', [key]);
    if (!rows[0]?.locked) {
      clean = true;
      return { ran: false };
    }
    try {
      return { ran: true, value: await work() };
    } finally {
      // A failed unlock leaves the session's state unknown: the connection is destroyed below, which ends the
      // session and the lock with it.
      clean = await client.query('SELECT pg_advisory_unlock($1::int8)', [key]).then(() => true, () => false);
    }
  } finally {
    if (clean) {
      client.off('error', onLost);
      client.release();
    } else {
      client.release(true);
    }
  }
}

/**
 * Without params pg uses the simple protocol, which accepts several statements (migration files)
 * and then answers with one result per statement; the last one is the answer to the whole text.
 */
async function run<R>(
  target: pg.Pool | pg.PoolClient,
  sql: string,
  params?: readonly unknown[],
): Promise<QueryResult<R>> {
  const raw: pg.QueryResult | pg.QueryResult[] = await target.query(sql, params ? [...params] : undefined);
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  const rows = (last?.rows ?? []) as R[];
  return { rows, rowCount: last?.rowCount ?? rows.length };
}
