/**
 * The relational store port: what functions and migrations need from PostgreSQL.
 *
 * Two adapters implement it and pass one contract suite (test/relational.contract.ts):
 * `pg` against a PostgreSQL server, and PGlite (real PostgreSQL compiled to WASM) in-process
 * for the embedded mode. SQL is PostgreSQL's own, with `$1` placeholders.
 *
 * Value mapping both adapters agree on: timestamptz → Date, int4 → number, int8 and numeric → string
 * (as `pg` does, so large values lose nothing), json/jsonb → parsed value, bool → boolean, uuid/text → string.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Relational extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `work` inside BEGIN … COMMIT on one connection; any throw rolls back and rethrows.
   * Transactions never interleave with other statements on the same session (PGlite has one backend).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Resolves when the store answers a trivial query; rejects otherwise (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
