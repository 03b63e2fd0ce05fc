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

/** What `withTryLock` did: ran the work (with its result), or found the lock held and skipped it. */
export type LockedRun<T> = { ran: true; value: T } | { ran: false };

export interface Relational extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * Runs `work` inside BEGIN … COMMIT on one connection; any throw rolls back and rethrows.
   * Transactions never interleave with other statements on the same session (PGlite has one backend).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `work` holding the lock called `name`, or not at all: when another holder has it (in this process or,
   * on a server, in any process on the same database) it resolves `{ ran: false }` at once, without waiting.
   * The lock is released when `work` settles, also when it throws (the throw is passed on). `work` reaches the
   * store as usual (`query`, `transaction`); holding the lock makes none of that a transaction. Used so that a
   * scheduled function never runs twice at once however many schedulers fire it.
   */
  withTryLock<T>(name: string, work: () => Promise<T>): Promise<LockedRun<T>>;
  /** Resolves when the store answers a trivial query; rejects otherwise (used by /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
