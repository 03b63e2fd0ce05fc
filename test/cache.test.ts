/**
 * Runs the cache contract on both adapters, then checks what only one adapter can show: that the Redis
 * adapter applies its key prefix (scripts and sorted sets included) and fails fast when Redis is down, and that
 * the memory adapter expires keys on an injected clock.
 */
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMemoryCache } from '../shared/adapters/cache/memory.ts';
import { createRedisCache } from '../shared/adapters/cache/redis.ts';
import { cacheContract, killRedisSubscribers } from './cache.contract.ts';
import { services } from './support/services.ts';
import { settleWithin, until } from './support/wait.ts';
import { Redis } from 'ioredis';

cacheContract('redis', () => createRedisCache(services.redisUrl, { keyPrefix: 'test:' }));
cacheContract('memory', () => createMemoryCache());

/** Nothing listens here, so every connection attempt is refused. */
const CLOSED_PORT_URL = 'redis://127.0.0.1:6390';
/** How long a command may take to fail against a Redis that is down. */
const FAIL_FAST_MS = 4_000;

const redis = suite('redis adapter');

redis('applies keyPrefix to plain commands, scripts and sorted sets alike', async () => {
  const prefix = `test:prefix:${randomUUID()}:`;
  const prefixed = createRedisCache(services.redisUrl, { keyPrefix: prefix });
  const raw = createRedisCache(services.redisUrl);
  try {
    await prefixed.set('plain', 'v');
    await prefixed.hit('counted', 60_000);
    await prefixed.sortedAdd('ranked', [{ member: 'm', score: 7 }]);
    assert.is(await raw.get(`${prefix}plain`), 'v');
    assert.is(await raw.get(`${prefix}counted`), '1');
    assert.equal(await raw.sortedScores(`${prefix}ranked`, ['m']), [7]);
    assert.equal(await raw.sortedRangeByScore(`${prefix}ranked`, -Infinity, Infinity), [{ member: 'm', score: 7 }]);
  } finally {
    await raw.del(`${prefix}plain`, `${prefix}counted`, `${prefix}ranked`);
    await Promise.all([prefixed.close(), raw.close()]);
  }
});

redis('prefixes channel names: caches with different prefixes do not hear each other', async () => {
  const run = randomUUID();
  const a = createRedisCache(services.redisUrl, { keyPrefix: `test:${run}:a:` });
  const b = createRedisCache(services.redisUrl, { keyPrefix: `test:${run}:b:` });
  const raw = new Redis(services.redisUrl);
  try {
    const heardByB: string[] = [];
    let bLive = false;
    b.subscribe('news', { message: (m) => heardByB.push(m), live: () => (bLive = true), lost: () => {} });
    const rawHeard: Array<[string, string]> = [];
    raw.on('message', (channel: string, message: string) => rawHeard.push([channel, message]));
    await raw.subscribe(`test:${run}:a:news`);
    await until('b live', () => bLive, 3_000);
    await a.publish('news', 'for a only');
    await until('the raw subscriber heard the prefixed channel', () => rawHeard.length === 1, 3_000);
    assert.equal(rawHeard, [[`test:${run}:a:news`, 'for a only']]);
    await b.publish('news', 'for b');
    await until('b heard its own', () => heardByB.length === 1, 3_000);
    assert.equal(heardByB, ['for b']);
  } finally {
    raw.disconnect();
    await Promise.all([a.close(), b.close()]);
  }
});

redis('a killed subscriber connection reports lost, then live again once resubscribed', async () => {
  const prefix = `test:${randomUUID()}:`;
  const cache = createRedisCache(services.redisUrl, { keyPrefix: prefix });
  const admin = new Redis(services.redisUrl);
  try {
    const events: string[] = [];
    const heard: string[] = [];
    const subscription = cache.subscribe('drops', { message: (m) => heard.push(m), live: () => events.push('live'), lost: () => events.push('lost') });
    await until('live', () => subscription.live, 3_000);
    assert.is(await killRedisSubscribers(admin, prefix), 1);
    await until('lost', () => events.includes('lost'), 3_000);
    await until('live again', () => subscription.live, 5_000);
    assert.equal(events, ['live', 'lost', 'live']);
    await cache.publish('drops', 'after the reconnect');
    await until('heard after the reconnect', () => heard.length === 1, 3_000);
  } finally {
    admin.disconnect();
    await cache.close();
  }
});

redis('rejects ping and get quickly when Redis is down, instead of hanging', async () => {
  const cache = createRedisCache(CLOSED_PORT_URL);
  try {
    for (const [what, call] of [
      ['ping', () => cache.ping()],
      ['get', () => cache.get('any')],
    ] as const) {
      const started = Date.now();
      const outcome = await settleWithin(call(), FAIL_FAST_MS);
      assert.is(outcome, 'rejected', `${what} should reject within ${FAIL_FAST_MS} ms, but it ${outcome}`);
      assert.ok(Date.now() - started < FAIL_FAST_MS);
    }
  } finally {
    assert.is(await settleWithin(cache.close(), FAIL_FAST_MS), 'resolved', 'close should not hang either');
  }
});

redis.run();

const memory = suite('memory adapter');

memory('expires keys and hit windows on the injected clock', async () => {
  let clock = 1_000;
  const cache = createMemoryCache({ now: () => clock });
  try {
    await cache.set('session', 'v', { ttlMs: 100 });
    assert.is((await cache.hit('counter', 100)).count, 1);
    clock += 99;
    assert.is(await cache.ttl('session'), 1);
    assert.equal(await cache.hit('counter', 100), { count: 2, resetMs: 1 });
    clock += 1;
    assert.is(await cache.get('session'), null);
    assert.equal(await cache.hit('counter', 100), { count: 1, resetMs: 100 });
  } finally {
    await cache.close();
  }
});

memory.run();

