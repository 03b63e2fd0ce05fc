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
import { cacheContract } from './cache.contract.ts';
import { services } from './support/services.ts';
import { settleWithin } from './support/wait.ts';

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

