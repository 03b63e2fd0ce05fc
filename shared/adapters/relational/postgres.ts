/**
 * The relational port over a PostgreSQL server, through a `pg` Pool.
 *
 *   const db = createPostgres(process.env.DATABASE_URL!, { applicationName: 'devices' });
 *   const { rows } = await db.query<{ id: string }>('SELECT id FROM devices WHERE owner = $1', [owner]);
 */
import pg from 'pg';
import type { Queryable, QueryResult, Relational } from '../../ports/relational.ts';

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

    async ping() {
      await pool.query('SELECT 1');
    },

    close: () => pool.end(),
  };
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
