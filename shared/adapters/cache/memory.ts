/**
 * The cache port in process memory, for the embedded mode and for tests.
 *
 * Keys expire lazily when read, and a periodic sweep drops expired keys nobody reads again. Every operation
 * runs synchronously between awaits, so each is atomic on its key, as in Redis. Sorted sets are entries of the same
 * map, so they share the keyspace, `del`, `exists` and expiry with strings. Range queries sort the whole set on each
 * call, which is fine at the ~100k members we keep. Pass `now` to move time in tests. Publish/subscribe stays in this
 * process (the embedded mode is one process): `publish` delivers to every live subscription before it resolves.
 *
 *   let clock = 0;
 *   const cache = createMemoryCache({ now: () => clock });
 *   await cache.set('k', 'v', { ttlMs: 100 });
 *   clock = 100; // 'k' is gone
 */
import type { Cache, SetOptions, Subscription, SubscriptionEvents } from '../../ports/cache.ts';
import { ChannelSubscription } from './channel-subscription.ts';

const SWEEP_INTERVAL_MS = 30_000;

interface StringEntry {
  kind: 'string';
  value: string;
  /** Null when the key has no TTL. */
  expiresAt: number | null;
}

interface SortedEntry {
  kind: 'sorted';
  /** Score by member; never empty, since Redis drops a sorted set with its last member. */
  scores: Map<string, number>;
  expiresAt: number | null;
}

type Entry = StringEntry | SortedEntry;

export function createMemoryCache(options: { now?: () => number } = {}): Cache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  const subscribers = new Map<string, Set<ChannelSubscription>>();

  const isExpired = (entry: Entry) => entry.expiresAt !== null && entry.expiresAt <= now();

  /** The live entry for `key`, dropping it first if it has expired. */
  function read(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry && isExpired(entry)) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** The live string at `key`; rejects a sorted set as Redis does. */
  function readString(key: string): StringEntry | undefined {
    const entry = read(key);
    if (entry?.kind === 'sorted') throw wrongType();
    return entry;
  }

  function readSorted(key: string): SortedEntry | undefined {
    const entry = read(key);
    if (entry?.kind === 'string') throw wrongType();
    return entry;
  }

  const sweep = setInterval(() => {
    for (const [key, entry] of entries) if (isExpired(entry)) entries.delete(key);
  }, SWEEP_INTERVAL_MS);
  // The sweep only frees memory; it must never be the reason a process stays up.
  sweep.unref();

  return {
    kind: 'memory',

    async get(key) {
      return readString(key)?.value ?? null;
    },

    async getMany(keys) {
      // Redis MGET answers null for a key of another kind instead of failing.
      return keys.map((key) => {
        const entry = read(key);
        return entry?.kind === 'string' ? entry.value : null;
      });
    },

    async set(key, value, setOptions: SetOptions = {}) {
      const { ttlMs, onlyIfAbsent } = setOptions;
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      if (onlyIfAbsent && read(key)) return false;
      entries.set(key, { kind: 'string', value, expiresAt: ttlMs === undefined ? null : now() + ttlMs });
      return true;
    },

    async del(...keys) {
      let deleted = 0;
      for (const key of keys) if (read(key) && entries.delete(key)) deleted++;
      return deleted;
    },

    async exists(key) {
      return read(key) !== undefined;
    },

    async compareAndSet(key, expected, next, ttlMs) {
      if (ttlMs !== undefined) checkMs('ttlMs', ttlMs);
      const entry = readString(key);
      if (!entry || entry.value !== expected) return false;
      entry.value = next;
      if (ttlMs !== undefined) entry.expiresAt = now() + ttlMs;
      return true;
    },

    async hit(key, windowMs) {
      checkMs('windowMs', windowMs);
      const entry = readString(key);
      const count = entry ? Number(entry.value) + 1 : 1;
      // Redis INCR refuses a value that is not an integer; so do we.
      if (!Number.isSafeInteger(count)) throw new Error(`cannot count hits on ${key}: its value is not an integer`);
      const expiresAt = entry?.expiresAt ?? now() + windowMs;
      entries.set(key, { kind: 'string', value: String(count), expiresAt });
      return { count, resetMs: expiresAt - now() };
    },

    async unhit(key) {
      const entry = readString(key);
      if (!entry) return;
      const count = Number(entry.value);
      if (!Number.isSafeInteger(count)) throw new Error(`cannot take back a hit on ${key}: its value is not an integer`);
      if (count > 0) entry.value = String(count - 1);
    },

    async ttl(key) {
      const expiresAt = read(key)?.expiresAt;
      return expiresAt == null ? null : expiresAt - now();
    },

    async sortedAdd(key, additions) {
      // Check every score first so a bad one sets nothing, as Redis does.
      for (const { score } of additions) checkScore('score', score);
      if (additions.length === 0) return;
      let entry = readSorted(key);
      if (!entry) {
        entry = { kind: 'sorted', scores: new Map(), expiresAt: null };
        entries.set(key, entry);
      }
      for (const { member, score } of additions) entry.scores.set(member, score);
    },

    async sortedScores(key, members) {
      if (members.length === 0) return [];
      const scores = readSorted(key)?.scores;
      return members.map((member) => scores?.get(member) ?? null);
    },

    async sortedRangeByScore(key, min, max, limit) {
      checkScore('min', min);
      checkScore('max', max);
      if (limit !== undefined) checkLimit(limit);
      const range: Array<{ member: string; score: number }> = [];
      for (const [member, score] of readSorted(key)?.scores ?? []) {
        if (min <= score && score <= max) range.push({ member, score });
      }
      range.sort((a, b) => (a.score === b.score ? compareCodePoints(a.member, b.member) : a.score - b.score));
      return limit === undefined ? range : range.slice(0, limit);
    },

    async sortedRemove(key, members) {
      if (members.length === 0) return 0;
      const entry = readSorted(key);
      if (!entry) return 0;
      let removed = 0;
      for (const member of members) if (entry.scores.delete(member)) removed++;
      if (entry.scores.size === 0) entries.delete(key);
      return removed;
    },

    async sortedCount(key, min, max) {
      checkScore('min', min);
      checkScore('max', max);
      let count = 0;
      for (const score of readSorted(key)?.scores.values() ?? []) if (min <= score && score <= max) count++;
      return count;
    },

    async publish(channel, message) {
      for (const subscription of subscribers.get(channel) ?? []) if (subscription.live) subscription.deliver(message);
    },

    subscribe(channel, events) {
      const subscription = new ChannelSubscription(events, () => subscribers.get(channel)?.delete(subscription));
      let set = subscribers.get(channel);
      if (!set) subscribers.set(channel, (set = new Set()));
      set.add(subscription);
      // Live on the next microtask, as Redis confirms later too: the caller holds the subscription before `live`.
      queueMicrotask(() => subscription.confirm());
      return subscription;
    },

    async ping() {},

    async close() {
      clearInterval(sweep);
      for (const set of subscribers.values()) for (const subscription of set) await subscription.unsubscribe();
      subscribers.clear();
    },
  };
}

/** The same check as the Redis adapter, so both reject a bad duration alike. */
function checkMs(name: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`${name} must be a positive integer, got ${ms}`);
}

/** Redis's own message, so callers see the same error from either adapter. */
function wrongType(): Error {
  return new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
}

/** NaN would compare false with everything and sort anywhere; Redis refuses it, and the Redis adapter checks it. */
function checkScore(name: string, score: number): void {
  if (Number.isNaN(score)) throw new RangeError(`${name} must be a number, got NaN`);
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
}

/**
 * Redis orders equal scores by the members' UTF-8 bytes, which is code point order. Comparing UTF-16 units (`<`)
 * agrees except that surrogates, the halves of code points above U+FFFF, sort before U+E000..U+FFFF: rank them after.
 */
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
