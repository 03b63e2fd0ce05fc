/**
 * Stores that connect when something first uses them, not when the process starts.
 *
 * A function process answers its first request before it opens anything that request does not touch: `jwks`
 * never loads pg or ioredis, `me` opens Redis and PostgreSQL when its first request reads the session and the
 * user. Measured on `jwks`, importing and connecting both at start cost ~60 ms of a ~350 ms cold start (their
 * modules, the garbage they leave, the migration read and the PING). The broker has done this longest
 * (shared/bus/connect-on-first-use.ts); the relational store and the cache do it here, in function processes
 * (functions/host.ts), while the long-lived processes keep opening everything at start.
 *
 * The first call connects; the calls after it share that connection. A failed connection is not remembered: the
 * next call tries again, and the caller sees the error as it would from a store that dropped.
 *
 *   const db = relationalOnFirstUse('postgres', async () => { const db = createPostgres(url); await migrate(db); return db; });
 *   await db.query('SELECT 1');   // connects, checks the schema, then queries
 */
import type { Relational } from './ports/relational.ts';
import type { Cache, Subscription } from './ports/cache.ts';

export interface FirstUse<T> {
  /** The connection, made by the first call; a failure is forgotten, so the next call tries again. */
  get(): Promise<T>;
  /** Closes what was connected (waiting for a connection under way) and refuses every later call. */
  close(): Promise<void>;
}

export function onFirstUse<T>(what: string, connect: () => Promise<T>, release: (connected: T) => Promise<unknown>): FirstUse<T> {
  let connecting: Promise<T> | undefined;
  let closed = false;
  return {
    get() {
      if (closed) return Promise.reject(new Error(`the ${what} is closed`));
      connecting ??= connect().catch((error: unknown) => {
        connecting = undefined;
        throw error;
      });
      return connecting;
    },
    async close() {
      closed = true;
      const pending = connecting;
      connecting = undefined;
      const connected = await pending?.catch(() => undefined);
      if (connected !== undefined) await release(connected);
    },
  };
}

/** `connected` once `prepare` has run on it (the topology declared, the schema checked); closed if that failed. */
export async function preparedOrClosed<T extends { close(): Promise<void> }>(connected: T, prepare: (connected: T) => Promise<unknown>): Promise<T> {
  try {
    await prepare(connected);
    return connected;
  } catch (error) {
    await connected.close().catch(() => undefined);
    throw error;
  }
}

export function relationalOnFirstUse(kind: Relational['kind'], connect: () => Promise<Relational>): Relational {
  const connection = onFirstUse('relational store', connect, (db) => db.close());
  const db = connection.get;
  return {
    kind,
    query: async (sql, params) => (await db()).query(sql, params),
    transaction: async (work) => (await db()).transaction(work),
    withTryLock: async (name, work) => (await db()).withTryLock(name, work),
    ping: async () => (await db()).ping(),
    close: connection.close,
  };
}

/** How long a subscription waits before it asks again for a cache that could not be connected. */
const SUBSCRIBE_RETRY_MS = 1_000;

export function cacheOnFirstUse(kind: Cache['kind'], connect: () => Promise<Cache>): Cache {
  const connection = onFirstUse('cache', connect, (cache) => cache.close());
  const cache = connection.get;
  return {
    kind,
    get: async (...args) => (await cache()).get(...args),
    getMany: async (...args) => (await cache()).getMany(...args),
    set: async (...args) => (await cache()).set(...args),
    del: async (...args) => (await cache()).del(...args),
    exists: async (...args) => (await cache()).exists(...args),
    compareAndSet: async (...args) => (await cache()).compareAndSet(...args),
    hit: async (...args) => (await cache()).hit(...args),
    unhit: async (...args) => (await cache()).unhit(...args),
    ttl: async (...args) => (await cache()).ttl(...args),
    sortedAdd: async (...args) => (await cache()).sortedAdd(...args),
    sortedScores: async (...args) => (await cache()).sortedScores(...args),
    sortedRangeByScore: async (...args) => (await cache()).sortedRangeByScore(...args),
    sortedRemove: async (...args) => (await cache()).sortedRemove(...args),
    sortedCount: async (...args) => (await cache()).sortedCount(...args),
    publish: async (...args) => (await cache()).publish(...args),
    // The port's subscribe answers at once; the subscription is made on the cache once it is connected, and is
    // not live until then (a memo on it reads through to the source meanwhile: shared/auth/pushed-memo.ts).
    subscribe(channel, events) {
      let inner: Subscription | undefined;
      let ended = false;
      let retry: NodeJS.Timeout | undefined;
      const attach = () => {
        cache().then(
          (connected) => {
            if (!ended) inner = connected.subscribe(channel, events);
          },
          () => {
            if (!ended) retry = setTimeout(attach, SUBSCRIBE_RETRY_MS).unref();
          },
        );
      };
      attach();
      return {
        get live() {
          return inner?.live ?? false;
        },
        async unsubscribe() {
          ended = true;
          clearTimeout(retry);
          await inner?.unsubscribe();
        },
      };
    },
    ping: async () => (await cache()).ping(),
    close: connection.close,
  };
}
