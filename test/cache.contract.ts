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
import type { Cache, Subscription } from '../shared/ports/cache.ts';
import { settleWithin, until } from './support/wait.ts';

/** Short enough to keep the suite fast, long enough that a few round trips fit well inside it. */
const TTL_MS = 80;
/** Sleep this long to be sure a TTL_MS key has expired. */
const PAST_TTL_MS = TTL_MS + 70;
/** The most devices one sorted set is expected to track. */
const LARGE_SET = 100_000;

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

  test('unhit takes back one hit and keeps the window', async ({ cache }) => {
    const k = key('unhit');
    await cache.hit(k, 60_000);
    await cache.hit(k, 60_000);
    await cache.unhit(k);
    assert.is(await cache.get(k), '1');
    const ttl = await cache.ttl(k);
    assert.ok(ttl !== null && ttl <= 60_000, `ttl ${ttl}`);
    assert.is((await cache.hit(k, 60_000)).count, 2);
  });

  test('unhit never goes below zero and never creates a key', async ({ cache }) => {
    const missing = key('unhit-missing');
    await cache.unhit(missing);
    assert.is(await cache.exists(missing), false);
    const k = key('unhit-zero');
    await cache.hit(k, 60_000);
    await cache.unhit(k);
    await cache.unhit(k);
    assert.is(await cache.get(k), '0');
    assert.is((await cache.hit(k, 60_000)).count, 1);
  });

  test('50 concurrent hit-then-unhit pairs on one key end where they started', async ({ cache }) => {
    const k = key('unhit-concurrent');
    await cache.hit(k, 60_000);
    await Promise.all(Array.from({ length: 50 }, async () => {
      await cache.hit(k, 60_000);
      await cache.unhit(k);
    }));
    assert.is(await cache.get(k), '1');
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

  test('sortedAdd adds members and updates their scores', async ({ cache }) => {
    const k = key('sorted-add');
    await cache.sortedAdd(k, [
      { member: 'a', score: 1 },
      { member: 'b', score: 2 },
    ]);
    assert.equal(await cache.sortedScores(k, ['a', 'b']), [1, 2]);
    await cache.sortedAdd(k, [
      { member: 'a', score: 5 },
      { member: 'c', score: 3 },
      { member: 'd', score: 1 },
      { member: 'd', score: 4 },
    ]);
    assert.equal(await cache.sortedScores(k, ['a', 'b', 'c', 'd']), [5, 2, 3, 4], 'the last score given wins');
    assert.is(await cache.sortedCount(k, -Infinity, Infinity), 4);

    const empty = key('sorted-add-empty');
    await cache.sortedAdd(empty, []);
    assert.is(await cache.exists(empty), false, 'adding nothing creates nothing');
  });

  test('sortedScores answers null for missing members and a missing key, in order', async ({ cache }) => {
    const k = key('sorted-scores');
    await cache.sortedAdd(k, [
      { member: 'a', score: 1 },
      { member: 'c', score: 3 },
    ]);
    assert.equal(await cache.sortedScores(k, ['a', 'b', 'c']), [1, null, 3]);
    assert.equal(await cache.sortedScores(key('sorted-scores-missing'), ['a', 'b']), [null, null]);
    assert.equal(await cache.sortedScores(k, []), []);
  });

  test('sortedRangeByScore answers inclusive ranges in score order, ties by member, up to limit', async ({ cache }) => {
    const k = key('sorted-range');
    await cache.sortedAdd(k, [
      { member: 'e', score: 50 },
      { member: 'a', score: 10 },
      { member: 'tie-z', score: 25 },
      { member: 'c', score: 30 },
      { member: 'b', score: 20 },
      { member: 'tie-a', score: 25 },
      { member: 'd', score: 40 },
      // Redis orders ties by UTF-8 bytes: U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80), unlike UTF-16 `<`.
      { member: '\u{1F600}', score: 60 },
      { member: '\uFFFD', score: 60 },
    ]);
    const members = async (min: number, max: number, limit?: number) =>
      (await cache.sortedRangeByScore(k, min, max, limit)).map((entry) => entry.member);

    assert.equal(await cache.sortedRangeByScore(k, -Infinity, 20), [
      { member: 'a', score: 10 },
      { member: 'b', score: 20 },
    ]);
    assert.equal(await members(-Infinity, Infinity), ['a', 'b', 'tie-a', 'tie-z', 'c', 'd', 'e', '\uFFFD', '\u{1F600}']);
    assert.equal(await members(20, 40), ['b', 'tie-a', 'tie-z', 'c', 'd'], 'both bounds are inclusive');
    assert.equal(await members(45, Infinity), ['e', '\uFFFD', '\u{1F600}']);
    assert.equal(await members(-Infinity, Infinity, 3), ['a', 'b', 'tie-a'], 'the limit keeps the lowest scores');
    assert.equal(await members(25, 25, 1), ['tie-a']);
    assert.equal(await members(-Infinity, Infinity, 100), await members(-Infinity, Infinity));
    assert.equal(await members(-Infinity, Infinity, 0), []);
    assert.equal(await members(41, 49), []);
    assert.equal(await members(40, 20), [], 'min above max');
    assert.equal(await cache.sortedRangeByScore(key('sorted-range-missing'), -Infinity, Infinity), []);
  });

  test('sortedRemove counts only the members that were there, and removing the last drops the key', async ({ cache }) => {
    const k = key('sorted-remove');
    await cache.sortedAdd(k, [
      { member: 'a', score: 1 },
      { member: 'b', score: 2 },
    ]);
    assert.is(await cache.sortedRemove(k, ['a', 'never-added']), 1);
    assert.is(await cache.sortedRemove(k, ['a']), 0, 'already removed');
    assert.is(await cache.sortedRemove(k, []), 0);
    assert.equal(await cache.sortedScores(k, ['a', 'b']), [null, 2]);
    assert.is(await cache.sortedRemove(key('sorted-remove-missing'), ['a']), 0);
    assert.is(await cache.sortedRemove(k, ['b']), 1);
    assert.is(await cache.exists(k), false);
  });

  test('sortedCount counts members within inclusive bounds', async ({ cache }) => {
    const k = key('sorted-count');
    await cache.sortedAdd(
      k,
      [10, 20, 30, 40].map((score) => ({ member: `m${score}`, score })),
    );
    assert.is(await cache.sortedCount(k, -Infinity, Infinity), 4);
    assert.is(await cache.sortedCount(k, 20, 30), 2);
    assert.is(await cache.sortedCount(k, -Infinity, 19), 1);
    assert.is(await cache.sortedCount(k, 40, Infinity), 1);
    assert.is(await cache.sortedCount(k, 31, 39), 0);
    assert.is(await cache.sortedCount(k, 30, 20), 0);
    assert.is(await cache.sortedCount(key('sorted-count-missing'), -Infinity, Infinity), 0);
  });

  test('two concurrent sortedRemove of one member remove it exactly once', async ({ cache }) => {
    const k = key('sorted-remove-race');
    const devices = Array.from({ length: 20 }, (_, i) => `device-${i}`);
    await cache.sortedAdd(
      k,
      devices.map((member, score) => ({ member, score })),
    );
    const removed = await Promise.all(
      devices.map(async (member) => {
        const [first, second] = await Promise.all([cache.sortedRemove(k, [member]), cache.sortedRemove(k, [member])]);
        return [first, second].sort();
      }),
    );
    for (const pair of removed) assert.equal(pair, [0, 1]);
    assert.is(await cache.exists(k), false);
  });

  test('epoch-millisecond scores round-trip exactly', async ({ cache }) => {
    const k = key('sorted-epoch-ms');
    const seen = {
      early: 1_700_000_000_000,
      next: 1_700_000_000_001,
      later: 2_000_000_000_123,
      y2100: 4_102_444_800_001,
      largest: Number.MAX_SAFE_INTEGER,
    };
    const entries = Object.entries(seen).map(([member, score]) => ({ member, score }));
    await cache.sortedAdd(k, entries);
    assert.equal(await cache.sortedScores(k, Object.keys(seen)), Object.values(seen));
    assert.equal(await cache.sortedRangeByScore(k, -Infinity, Infinity), entries);
    assert.equal(await cache.sortedRangeByScore(k, seen.next, seen.next), [{ member: 'next', score: seen.next }]);
    assert.is(await cache.sortedCount(k, seen.next, seen.later), 2, 'adjacent milliseconds stay apart');
    assert.is(await cache.sortedCount(k, seen.early + 0.5, seen.later - 1), 1);
  });

  test('infinite scores round-trip', async ({ cache }) => {
    const k = key('sorted-infinite');
    await cache.sortedAdd(k, [
      { member: 'never', score: Infinity },
      { member: 'always', score: -Infinity },
      { member: 'zero', score: 0 },
    ]);
    assert.equal(await cache.sortedScores(k, ['never', 'always']), [Infinity, -Infinity]);
    assert.equal(await cache.sortedRangeByScore(k, -Infinity, Infinity), [
      { member: 'always', score: -Infinity },
      { member: 'zero', score: 0 },
      { member: 'never', score: Infinity },
    ]);
    assert.is(await cache.sortedCount(k, 0, Infinity), 2);
  });

  test(`handles a set of ${LARGE_SET} members in single calls`, async ({ cache }) => {
    const k = key('sorted-large');
    const entries = Array.from({ length: LARGE_SET }, (_, i) => ({ member: `device-${i}`, score: 1_700_000_000_000 + i }));
    const members = entries.map((entry) => entry.member);
    await cache.sortedAdd(k, entries);
    assert.is(await cache.sortedCount(k, -Infinity, Infinity), LARGE_SET);
    const scores = await cache.sortedScores(k, members);
    assert.ok(
      scores.every((score, i) => score === entries[i]?.score),
      'every score round-trips',
    );
    assert.equal(await cache.sortedRangeByScore(k, -Infinity, Infinity, 3), entries.slice(0, 3));
    assert.is(await cache.sortedRemove(k, members), LARGE_SET);
    assert.is(await cache.exists(k), false);
  });

  test('del, exists and ttl see a sorted-set key', async ({ cache }) => {
    const k = key('sorted-del');
    assert.is(await cache.exists(k), false);
    await cache.sortedAdd(k, [{ member: 'a', score: 1 }]);
    assert.is(await cache.exists(k), true);
    assert.is(await cache.ttl(k), null, 'a sorted set has no TTL');
    assert.is(await cache.del(k, key('sorted-del-never-set')), 1);
    assert.is(await cache.exists(k), false);
    assert.equal(await cache.sortedScores(k, ['a']), [null]);
    assert.is(await cache.del(k), 0);
  });

  test('a key holding one kind rejects the other kind of operation, except set and getMany', async ({ cache }) => {
    const text = key('kind-string');
    const sorted = key('kind-sorted');
    await cache.set(text, '1');
    await cache.sortedAdd(sorted, [{ member: 'a', score: 1 }]);

    await rejectsWrongType(cache.sortedAdd(text, [{ member: 'a', score: 1 }]), 'sortedAdd on a string');
    await rejectsWrongType(cache.sortedScores(text, ['a']), 'sortedScores on a string');
    await rejectsWrongType(cache.sortedRangeByScore(text, -Infinity, Infinity), 'sortedRangeByScore on a string');
    await rejectsWrongType(cache.sortedRemove(text, ['a']), 'sortedRemove on a string');
    await rejectsWrongType(cache.sortedCount(text, -Infinity, Infinity), 'sortedCount on a string');
    assert.is(await cache.get(text), '1', 'the string is untouched');

    await rejectsWrongType(cache.get(sorted), 'get on a sorted set');
    await rejectsWrongType(cache.compareAndSet(sorted, 'a', 'b'), 'compareAndSet on a sorted set');
    await rejectsWrongType(cache.hit(sorted, 60_000), 'hit on a sorted set');
    await rejectsWrongType(cache.unhit(sorted), 'unhit on a sorted set');
    assert.equal(await cache.getMany([text, sorted]), ['1', null]);
    assert.equal(await cache.sortedScores(sorted, ['a']), [1], 'the sorted set is untouched');

    assert.is(await cache.set(sorted, 'v', { onlyIfAbsent: true }), false, 'a sorted set exists for onlyIfAbsent');
    assert.is(await cache.set(sorted, 'v'), true);
    assert.is(await cache.get(sorted), 'v', 'set replaces a sorted set');
  });

  test('sorted-set operations reject NaN scores and bounds and bad limits', async ({ cache }) => {
    const k = key('sorted-bad-arguments');
    await rejects(
      cache.sortedAdd(k, [
        { member: 'a', score: 1 },
        { member: 'b', score: Number.NaN },
      ]),
      'sortedAdd NaN score',
    );
    assert.is(await cache.exists(k), false, 'a NaN score sets nothing');
    await cache.sortedAdd(k, [{ member: 'a', score: 1 }]);
    await rejects(cache.sortedRangeByScore(k, Number.NaN, 1), 'sortedRangeByScore NaN min');
    await rejects(cache.sortedRangeByScore(k, 0, Number.NaN), 'sortedRangeByScore NaN max');
    for (const limit of [-1, 1.5, Number.NaN, Infinity]) {
      await rejects(cache.sortedRangeByScore(k, 0, 1, limit), `sortedRangeByScore limit ${limit}`);
    }
    await rejects(cache.sortedCount(k, Number.NaN, 1), 'sortedCount NaN min');
    await rejects(cache.sortedCount(k, 0, Number.NaN), 'sortedCount NaN max');
  });

  /** A subscription that records what it hears, and a promise for its first `live`. */
  function listen(cache: Cache, channel: string) {
    const heard: string[] = [];
    const events: string[] = [];
    let subscription: Subscription | undefined;
    const live = new Promise<void>((resolve) => {
      subscription = cache.subscribe(channel, {
        message: (message) => heard.push(message),
        live: () => {
          events.push('live');
          resolve();
        },
        lost: () => events.push('lost'),
      });
    });
    return { heard, events, live, subscription: subscription! };
  }

  test('a subscription turns live, then hears every message on its channel and no other', async ({ cache }) => {
    const channel = `${prefix}channel-a`;
    const a = listen(cache, channel);
    const other = listen(cache, `${prefix}channel-b`);
    assert.is(a.subscription.live, false, 'not live before the adapter confirms it');
    await settleLive([a.live, other.live]);
    assert.is(a.subscription.live, true);
    await cache.publish(channel, 'one');
    await cache.publish(channel, 'two');
    await until('both messages heard', () => a.heard.length === 2, 3_000);
    assert.equal(a.heard, ['one', 'two'], 'in order');
    assert.equal(other.heard, [], 'another channel hears nothing');
    await Promise.all([a.subscription.unsubscribe(), other.subscription.unsubscribe()]);
  });

  test('every subscription of a channel hears a message; unsubscribe reports lost and stops delivery', async ({ cache }) => {
    const channel = `${prefix}channel-many`;
    const first = listen(cache, channel);
    const second = listen(cache, channel);
    await settleLive([first.live, second.live]);
    await cache.publish(channel, 'both');
    await until('both subscriptions heard it', () => first.heard.length === 1 && second.heard.length === 1, 3_000);
    await first.subscription.unsubscribe();
    assert.is(first.subscription.live, false);
    assert.equal(first.events, ['live', 'lost']);
    await cache.publish(channel, 'only the second');
    await until('the second heard it', () => second.heard.length === 2, 3_000);
    assert.equal(first.heard, ['both'], 'nothing after unsubscribe');
    await second.subscription.unsubscribe();
    await cache.publish(channel, 'nobody');
  });

  test('ping answers', async ({ cache }) => {
    await cache.ping();
  });

  test.run();
}

/**
 * Kills the Redis subscriber connections of caches with this key prefix (the adapter names them after it), and no
 * one else's: other runs share the Redis. Answers how many it killed.
 */
export async function killRedisSubscribers(admin: { call(...args: string[]): Promise<unknown> }, keyPrefix: string): Promise<number> {
  const list = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
  const ids = list
    .split('\n')
    .filter((entry) => entry.includes(` name=iotfn-subscriber:${keyPrefix} `))
    .map((entry) => /\bid=(\d+)/.exec(entry)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id);
  return ids.length;
}

/** Waits for every `live`, at most 3 s, so a subscription that never confirms fails instead of hanging. */
async function settleLive(lives: Promise<void>[]): Promise<boolean> {
  const outcome = await settleWithin(Promise.all(lives), 3_000);
  assert.is(outcome, 'resolved', 'every subscription should turn live');
  return true;
}

async function rejects(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, RangeError, `${what} should reject with a RangeError`);
}

/** Both adapters reject with Redis's own WRONGTYPE message. */
async function rejectsWrongType(promise: Promise<unknown>, what: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, Error, `${what} should reject`);
  assert.match((error as Error).message, /^WRONGTYPE/, `${what} should reject with WRONGTYPE`);
}
