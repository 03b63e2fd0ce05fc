/**
 * The stores a function process opens on first use (shared/on-first-use.ts): the same contracts as the adapters
 * they wrap, on the real PostgreSQL and Redis; nothing connected before the first call, one connection for many
 * concurrent first calls, a failure forgotten; and the platform built that way (functions/host.ts) starting with
 * no server reachable, then naming the variable when checkConnections asks.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPostgres } from '../shared/adapters/relational/postgres.ts';
import { createRedisCache } from '../shared/adapters/cache/redis.ts';
import { cacheOnFirstUse, onFirstUse, relationalOnFirstUse } from '../shared/on-first-use.ts';
import type { Relational } from '../shared/ports/relational.ts';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { createFunctionPlatform } from '../functions/platform.ts';
import { relationalContract } from './relational.contract.ts';
import { cacheContract } from './cache.contract.ts';
import { services } from './support/services.ts';
import { until } from './support/wait.ts';

relationalContract('postgres, connected on first use', async () =>
  relationalOnFirstUse('postgres', async () => createPostgres(services.databaseUrl, { max: 5, applicationName: 'on-first-use-test' })),
);
cacheContract('redis, connected on first use', () => cacheOnFirstUse('redis', async () => createRedisCache(services.redisUrl, { keyPrefix: 'test:' })));

const firstUse = suite('connected on first use');

firstUse('nothing connects before the first call; concurrent first calls share one connection', async () => {
  let connects = 0;
  const db = relationalOnFirstUse('postgres', async () => {
    connects++;
    return createPostgres(services.databaseUrl, { max: 5, applicationName: 'on-first-use-test' });
  });
  try {
    assert.is(db.kind, 'postgres');
    assert.is(connects, 0, 'made, not connected');
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => db.query<{ n: number }>('SELECT $1::int AS n', [i])));
    assert.equal(answers.map((answer) => answer.rows[0]!.n), Array.from({ length: 20 }, (_, i) => i));
    assert.is(connects, 1, 'one connection for twenty first calls');
  } finally {
    await db.close();
  }
  const refused = await db.query('SELECT 1').then(() => undefined, (error: unknown) => error as Error);
  assert.match(refused?.message ?? '', /closed/);
});

firstUse('a failed connection is forgotten: the next call tries again', async () => {
  let attempts = 0;
  const db = relationalOnFirstUse('postgres', async () => {
    attempts++;
    if (attempts === 1) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    return createPostgres(services.databaseUrl, { max: 2, applicationName: 'on-first-use-test' });
  });
  try {
    const first = await db.ping().then(() => undefined, (error: unknown) => error as NodeJS.ErrnoException);
    assert.is(first?.code, 'ECONNREFUSED', 'the caller sees the error');
    await db.ping();
    assert.is(attempts, 2);
  } finally {
    await db.close();
  }
});

firstUse('close waits for a connection under way and closes it', async () => {
  let closed = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const connection = onFirstUse(
    'thing',
    async () => {
      await gate;
      return 'connected';
    },
    async () => {
      closed++;
    },
  );
  const pending = connection.get();
  const closing = connection.close();
  release();
  assert.is(await pending, 'connected');
  await closing;
  assert.is(closed, 1);
  assert.match(await connection.get().then(String, (error: Error) => error.message), /the thing is closed/);
});

firstUse('a subscription made before the cache connects goes live once it has, and hears what is published', async () => {
  const channel = `first-use-${randomUUID()}`;
  const cache = cacheOnFirstUse('redis', async () => createRedisCache(services.redisUrl, { keyPrefix: 'test:' }));
  const other = createRedisCache(services.redisUrl, { keyPrefix: 'test:' });
  const heard: string[] = [];
  let live = false;
  try {
    const subscription = cache.subscribe(channel, { message: (m) => heard.push(m), live: () => (live = true), lost: () => (live = false) });
    assert.is(subscription.live, false, 'not live before the cache is connected');
    await until('the subscription is live', () => live && subscription.live, 5_000);
    await other.publish(channel, 'hello');
    await until('the message is heard', () => heard.length === 1, 5_000);
    assert.equal(heard, ['hello']);
    await subscription.unsubscribe();
  } finally {
    await Promise.all([cache.close(), other.close()]);
  }
});

firstUse.run();

const platform = suite("a function process's platform (connect: 'on-first-use')");

const unreachableDb = 'postgres://iotfn:secret@127.0.0.1:1/test';

platform('starts with PostgreSQL unreachable; checkConnections then names DATABASE_URL, without its password', async () => {
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: unreachableDb, REDIS_URL: services.redisUrl });
  const deps = await createFunctionPlatform(config, { connect: 'on-first-use', relay: false });
  try {
    assert.is(deps.db.kind, 'postgres');
    assert.ok(deps.verifier, 'a process that serves jwks or verifies tokens needs neither server to start');
    const error = await deps.checkConnections().then(() => undefined, (e: unknown) => e as Error);
    assert.instance(error, ConfigError);
    assert.is(error!.message, 'DATABASE_URL: cannot use postgres://iotfn:***@127.0.0.1:1/test: nothing listens there: is the server running? (ECONNREFUSED)');
  } finally {
    await deps.close();
  }
});

platform('the first use of either store opens both; the schema is checked before the first query', async () => {
  // The platform's connections carry a name of their own, so the server shows when they were opened.
  const name = `first-use-${randomUUID().slice(0, 8)}`;
  const url = `${services.databaseUrl}${services.databaseUrl.includes('?') ? '&' : '?'}application_name=${name}`;
  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: url, REDIS_URL: services.redisUrl });
  const deps = await createFunctionPlatform(config, { connect: 'on-first-use', relay: false });
  const observer = createPostgres(services.databaseUrl, { max: 1, applicationName: 'on-first-use-observer' });
  const opened = async () => Number((await observer.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_stat_activity WHERE application_name = $1', [name])).rows[0]!.n);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.is(await opened(), 0, 'nothing opened at start');
    await deps.cache.get(`first-use:${randomUUID()}`);
    await until('PostgreSQL opened beside Redis, with nothing asked of it', async () => (await opened()) > 0, 5_000);
    const { rows } = await deps.db.query<{ n: string }>('SELECT count(*)::text AS n FROM schema_migrations');
    assert.ok(Number(rows[0]!.n) > 0, 'the schema was checked (and is recorded) before the first query ran');
    await deps.checkConnections();
  } finally {
    await Promise.all([deps.close(), observer.close()]);
  }
});

platform.run();
