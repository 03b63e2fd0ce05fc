/**
 * The behaviour every cache adapter must show, run once per adapter by test/cache.test.ts.
 *
 * TTLs are short and real (the Redis adapter cannot fake time), so every sleep is bounded and small. Keys carry
 * a random prefix per run and are deleted afterwards, so runs never see each other's data.
 *
 *   cacheContract('memory', () => createMemoryCache());
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Cache } from '../shared/ports/cache.ts';

/** Short enough to keep the suite fast, long enough that a few round trips fit well inside it. */
const TTL_MS = 80;
/** Sleep this long to be sure a TTL_MS key has expired. */
const PAST_TTL_MS = TTL_MS + 70;

export function cacheContract(name: string, make: () => Promise<Cache> | Cache): void {
  const test = suite<{ cache: Cache }>(`cache contract: ${name}`);
  const prefix = `cache-contract:${randomUUID()}:`;
  const used = new Set<string>();
  const key = (name: string) => {
    used.add(prefix + name);
    return prefix + name;
  };

  test.before(async (context) => {
    context.cache = await make();
  });

  test.after(async ({ cache }) => {
    if (!cache) return;
    await cache.del(...used);
    await cache.close();
  });

  test('get, set, del and exists', async ({ cache }) => {
    const k = key('basic');
    assert.is(await cache.get(k), null);
    assert.is(await cache.exists(k), false);
    assert.is(await cache.set(k, 'one'), true);
    assert.is(await cache.get(k), 'one');
    assert.is(await cache.exists(k), true);
    assert.is(await cache.set(k, 'two'), true, 'overwrites');
    assert.is(await cache.get(k), 'two');
    assert.is(await cache.del(k, key('never-set')), 1, 'counts only the keys that existed');
    assert.is(await cache.get(k), null);
    assert.is(await cache.del(), 0);
  });

  test('getMany answers null for missing keys, in order', async ({ cache }) => {
    await cache.set(key('many-a'), 'a');
    await cache.set(key('many-c'), 'c');
    assert.equal(await cache.getMany([key('many-a'), key('many-b'), key('many-c')]), ['a', null, 'c']);
    assert.equal(await cache.getMany([]), []);
  });

  test('set with ttlMs expires', async ({ cache }) => {
    const k = key('ttl');
    await cache.set(k, 'v', { ttlMs: TTL_MS });
    assert.is(await cache.get(k), 'v');
    const ttl = await cache.ttl(k);
    assert.ok(ttl !== null && ttl > 0 && ttl <= TTL_MS, `ttl ${ttl}`);
    await sleep(PAST_TTL_MS);
    assert.is(await cache.get(k), null);
    assert.is(await cache.exists(k), false);
    assert.is(await cache.ttl(k), null);
  });

  test('set with onlyIfAbsent sets only a missing key', async ({ cache }) => {
    const k = key('nx');
    assert.is(await cache.set(k, 'first', { onlyIfAbsent: true }), true);
    assert.is(await cache.set(k, 'second', { onlyIfAbsent: true }), false);
    assert.is(await cache.get(k), 'first');
  });

  test('set with onlyIfAbsent sets a key whose TTL ran out', async ({ cache }) => {
    const k = key('nx-expired');
    await cache.set(k, 'old', { ttlMs: TTL_MS });
    await sleep(PAST_TTL_MS);
    assert.is(await cache.set(k, 'new', { onlyIfAbsent: true }), true);
    assert.is(await cache.get(k), 'new');
  });

  test('compareAndSet replaces a value that still matches', async ({ cache }) => {
    const k = key('cas');
    await cache.set(k, 'a');
    assert.is(await cache.compareAndSet(k, 'a', 'b'), true);
    assert.is(await cache.get(k), 'b');
  });

  test('compareAndSet fails when the value has changed', async ({ cache }) => {
    const k = key('cas-changed');
    await cache.set(k, 'changed');
    assert.is(await cache.compareAndSet(k, 'a', 'b'), false);
    assert.is(await cache.get(k), 'changed');
  });

  test('compareAndSet fails on a missing key and does not create it', async ({ cache }) => {
    const k = key('cas-missing');
    assert.is(await cache.compareAndSet(k, 'a', 'b'), false);
    assert.is(await cache.exists(k), false);
  });

  test('compareAndSet keeps the TTL when ttlMs is not given', async ({ cache }) => {
    const withTtl = key('cas-keep-ttl');
    await cache.set(withTtl, 'a', { ttlMs: 60_000 });
    assert.is(await cache.compareAndSet(withTtl, 'a', 'b'), true);
    const ttl = await cache.ttl(withTtl);
    assert.ok(ttl !== null && ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);

    const withoutTtl = key('cas-keep-no-ttl');
    await cache.set(withoutTtl, 'a');
    assert.is(await cache.compareAndSet(withoutTtl, 'a', 'b'), true);
    assert.is(await cache.ttl(withoutTtl), null);
  });

  test('compareAndSet sets the TTL when ttlMs is given', async ({ cache }) => {
    const k = key('cas-new-ttl');
    await cache.set(k, 'a');
    assert.is(await cache.compareAndSet(k, 'a', 'b', TTL_MS), true);
    const ttl = await cache.ttl(k);
    assert.ok(ttl !== null && ttl > 0 && ttl <= TTL_MS, `ttl ${ttl}`);
    await sleep(PAST_TTL_MS);
    assert.is(await cache.get(k), null);
  });

  test('hit counts within a window and starts again after it', async ({ cache }) => {
    const k = key('hit');
    for (const expected of [1, 2, 3]) {
      const { count, resetMs } = await cache.hit(k, TTL_MS);
      assert.is(count, expected);
      assert.ok(resetMs > 0 && resetMs <= TTL_MS, `resetMs ${resetMs}`);
    }
    await sleep(PAST_TTL_MS);
    const after = await cache.hit(k, TTL_MS);
    assert.is(after.count, 1);
    assert.ok(after.resetMs > 0 && after.resetMs <= TTL_MS, `resetMs ${after.resetMs}`);
  });

  test('hit does not extend the window', async ({ cache }) => {
    const k = key('hit-window');
    await cache.hit(k, 60_000);
    await cache.hit(k, 120_000);
    const ttl = await cache.ttl(k);
    assert.ok(ttl !== null && ttl <= 60_000, `ttl ${ttl}`);
  });

  test('50 concurrent hits on one key count 1..50 exactly once each', async ({ cache }) => {
    const k = key('hit-concurrent');
    const hits = await Promise.all(Array.from({ length: 50 }, () => cache.hit(k, 60_000)));
    const counts = hits.map((h) => h.count).sort((a, b) => a - b);
    assert.equal(counts, Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('ttl is null for a missing key and for a key without TTL', async ({ cache }) => {
    assert.is(await cache.ttl(key('ttl-missing')), null);
    const k = key('ttl-none');
    await cache.set(k, 'v');
    assert.is(await cache.ttl(k), null);
  });

  test('rejects durations that are not positive integers', async ({ cache }) => {
    const k = key('bad-durations');
    for (const ms of [0, -1, 1.5, Number.NaN]) {
      await rejects(cache.set(k, 'v', { ttlMs: ms }), `set ttlMs ${ms}`);
      await rejects(cache.compareAndSet(k, 'v', 'w', ms), `compareAndSet ttlMs ${ms}`);
      await rejects(cache.hit(k, ms), `hit windowMs ${ms}`);
    }
    assert.is(await cache.exists(k), false);
  });

  test('ping answers', async ({ cache }) => {
    await cache.ping();
  });

  test.run();
}

async function rejects(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, RangeError, `${what} should reject with a RangeError`);
}
